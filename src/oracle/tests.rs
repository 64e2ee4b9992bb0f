//! The response oracles and the verdict gate's second look, without sockets.

use super::*;
use crate::wire::Ending;

fn heard(bytes: &[u8], end: ReadEnd) -> Heard {
    Heard {
        bytes: bytes.to_vec(),
        received: bytes.len() as u64,
        end,
        waited: Duration::ZERO,
    }
}

fn case() -> Case {
    "v1:req:3,1,19".parse().unwrap()
}

#[test]
fn the_same_response_passes_and_a_different_one_is_found() {
    let oracles = Oracles {
        same_as_whole: true,
        ..Oracles::default()
    };
    let baseline = Baseline::new(b"+OK\n+v\n".to_vec(), false);
    assert_eq!(
        oracles.judge(
            &case(),
            &heard(b"+OK\n+v\n", ReadEnd::Settled),
            Some(&baseline)
        ),
        None
    );
    match oracles.judge(
        &case(),
        &heard(b"+OK\n-ERR\n", ReadEnd::Settled),
        Some(&baseline),
    ) {
        Some(FindingKind::ResponseDiffers {
            first_difference, ..
        }) => assert_eq!(first_difference, Some(4)),
        other => panic!("{other:?}"),
    }
    // Same bytes, but the server closed where it kept the whole-blob connection open.
    assert!(matches!(
        oracles.judge(
            &case(),
            &heard(b"+OK\n+v\n", ReadEnd::Closed),
            Some(&baseline)
        ),
        Some(FindingKind::ResponseDiffers {
            actual_closed: true,
            ..
        })
    ));
}

#[test]
fn normalize_maps_both_sides_before_comparing() {
    let oracles = Oracles {
        same_as_whole: true,
        normalize: Some(Arc::new(|b: &[u8]| {
            b.iter()
                .map(|c| if c.is_ascii_digit() { b'#' } else { *c })
                .collect()
        })),
        ..Oracles::default()
    };
    let baseline = Baseline::new(b"time=1700000000\n".to_vec(), true);
    let later = heard(b"time=1700000042\n", ReadEnd::Closed);
    assert_eq!(oracles.judge(&case(), &later, Some(&baseline)), None);
}

#[test]
fn a_timed_out_response_is_a_hang_only_with_a_response_timeout() {
    let silent = heard(b"", ReadEnd::TimedOut);
    assert_eq!(Oracles::default().judge(&case(), &silent, None), None);
    let oracles = Oracles {
        response_timeout: Some(Duration::from_millis(300)),
        ..Oracles::default()
    };
    match oracles.judge(&case(), &silent, None) {
        Some(FindingKind::NoResponse {
            last_boundary,
            waited,
            ..
        }) => {
            assert_eq!(last_boundary, 4);
            assert_eq!(waited, Duration::from_millis(300));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_user_check_can_object() {
    let oracles = Oracles {
        check: Some(Arc::new(|case: &Case, response: &Response| {
            if response.bytes().starts_with(b"-ERR") {
                Err(format!("{} got an error", case.blob()))
            } else {
                Ok(())
            }
        })),
        ..Oracles::default()
    };
    assert_eq!(
        oracles.judge(&case(), &heard(b"+OK\n", ReadEnd::Settled), None),
        None
    );
    assert_eq!(
        oracles.judge(&case(), &heard(b"-ERR x\n", ReadEnd::Settled), None),
        Some(FindingKind::CheckFailed {
            message: "req got an error".into()
        })
    );
}

#[test]
fn listening_depends_on_the_oracles() {
    let linger = Duration::from_millis(50);
    assert_eq!(
        Oracles::default().listen(None, linger),
        Listen::HalfClose { linger }
    );
    let oracles = Oracles {
        same_as_whole: true,
        ..Oracles::default()
    };
    let baseline = Baseline::new(vec![1; 7], false);
    assert_eq!(
        oracles.listen(Some(&baseline), linger),
        Listen::Await {
            expect: Some(7),
            settle: SETTLE,
            limit: RESPONSE_WAIT,
            until_close: false,
        }
    );
}

/// The gate's second look at `split`, beside the whole answer `whole`.
fn again(oracles: &Oracles, split: &Heard, baseline: &mut Baseline, whole: &Heard) -> Rejudged {
    oracles.rejudge(
        &case(),
        (Ending::Complete, split, None),
        Some(baseline),
        whole,
    )
}

fn same_response() -> Oracles {
    Oracles {
        same_as_whole: true,
        response_timeout: Some(Duration::from_secs(3)),
        ..Oracles::default()
    }
}

#[test]
fn a_difference_the_fresh_whole_answer_shows_too_is_noise() {
    let oracles = same_response();
    let mut baseline = Baseline::new(b"+OK 12:59:59\n".to_vec(), false);
    let split = heard(b"+OK 13:00:00\n", ReadEnd::Settled);
    let whole = heard(b"+OK 13:00:00\n", ReadEnd::Settled);
    let delivered = (Ending::Complete, &split, None);
    assert_eq!(
        oracles.rejudge(&case(), delivered, Some(&mut baseline), &whole),
        Rejudged::Varied
    );
    // What was learnt stays: the next tick passes at once.
    let later = heard(b"+OK 13:00:01\n", ReadEnd::Settled);
    assert_eq!(oracles.judge(&case(), &later, Some(&baseline)), None);
    // And a real difference still fails.
    let wrong = heard(b"-ERR 13:00:01\n", ReadEnd::Settled);
    let delivered = (Ending::Complete, &wrong, None);
    assert!(matches!(
        oracles.rejudge(&case(), delivered, Some(&mut baseline), &whole),
        Rejudged::Fails(FindingKind::ResponseDiffers {
            first_difference: Some(0),
            ..
        })
    ));
}

#[test]
fn a_server_that_was_not_ready_is_baselined_again() {
    let oracles = same_response();
    let mut baseline = Baseline::new(b"-ERR loading the dataset\n".to_vec(), false);
    let split = heard(b"+OK\n", ReadEnd::Settled);
    let whole = heard(b"+OK\n", ReadEnd::Settled);
    assert_eq!(
        again(&oracles, &split, &mut baseline, &whole),
        Rejudged::Varied
    );
    assert_eq!(baseline.bytes, b"+OK\n");
}

#[test]
fn closing_that_varies_by_itself_is_not_a_finding() {
    let oracles = same_response();
    let mut baseline = Baseline::new(b"bye\n".to_vec(), true);
    let open = heard(b"bye\n", ReadEnd::Settled);
    let whole_open = heard(b"bye\n", ReadEnd::Settled);
    assert!(oracles.judge(&case(), &open, Some(&baseline)).is_some());
    assert_eq!(
        again(&oracles, &open, &mut baseline, &whole_open),
        Rejudged::Varied
    );
    assert!(baseline.volatile.closing);
}

#[test]
fn a_check_the_whole_blob_fails_too_is_no_boundary_bug_but_a_server_gone_silent_is_a_hang() {
    let oracles = Oracles {
        check: Some(Arc::new(|_: &Case, response: &Response| {
            if response.bytes().starts_with(b"+") {
                Ok(())
            } else {
                Err("not +".into())
            }
        })),
        response_timeout: Some(Duration::from_secs(1)),
        ..Oracles::default()
    };
    let refused = heard(b"-NO\n", ReadEnd::Settled);
    assert!(matches!(
        oracles.rejudge(&case(), (Ending::Complete, &refused, None), None, &refused),
        Rejudged::WholeFailsToo(FindingKind::CheckFailed { .. })
    ));
    let silent = heard(b"", ReadEnd::TimedOut);
    assert!(matches!(
        oracles.rejudge(&case(), (Ending::Complete, &silent, None), None, &silent),
        Rejudged::Fails(FindingKind::NoResponse { received: 0, .. })
    ));
}

#[test]
fn an_answer_complete_but_shorter_than_the_first_whole_one_is_no_hang() {
    let oracles = same_response();
    let mut baseline = Baseline::new(b"+OK id=10\n".to_vec(), false);
    // The split answer waited for 10 bytes and got 9: cut off at the response timeout.
    let split = heard(b"+OK id=9\n", ReadEnd::TimedOut);
    let first = oracles.judge(&case(), &split, Some(&baseline));
    assert!(
        matches!(
            first,
            Some(FindingKind::NoResponse {
                received: 9,
                expected: Some(10),
                ..
            })
        ),
        "{first:?}"
    );
    let whole = heard(b"+OK id=11\n", ReadEnd::Settled);
    assert_eq!(
        again(&oracles, &split, &mut baseline, &whole),
        Rejudged::Varied
    );
    // A short answer that stays short is the finding, with its true label.
    let cut = heard(b"+OK", ReadEnd::TimedOut);
    let kind = match again(&oracles, &cut, &mut baseline, &whole) {
        Rejudged::Fails(kind) => kind,
        other => panic!("{other:?}"),
    };
    assert!(
        kind.headline()
            .starts_with("the answer stopped short of the whole blob's: 3 of 10 bytes"),
        "{}",
        kind.headline()
    );
}

/// An HTTP/2 server's SETTINGS, then a GOAWAY with `code` when there is one.
fn h2_answer(goaway: Option<u32>) -> Vec<u8> {
    let mut out = vec![0, 0, 0, 4, 0, 0, 0, 0, 0];
    if let Some(code) = goaway {
        out.extend_from_slice(&[0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        out.extend_from_slice(&code.to_be_bytes());
    }
    out
}

#[test]
fn a_protocol_failure_is_found_without_the_answer_oracle() {
    let split = heard(&h2_answer(Some(1)), ReadEnd::Closed);
    let failed = FindingKind::ProtocolFailure {
        protocol: "HTTP/2",
        what: "GOAWAY",
        code: 1,
        // The answer as its frames say.
        answer: b"settings: none\ngoaway: PROTOCOL_ERROR, last stream 1\n".to_vec(),
    };
    let off = Oracles::default();
    assert_eq!(off.judge(&case(), &split, None), Some(failed.clone()));
    assert_eq!(
        off.judge(&case(), &heard(&h2_answer(None), ReadEnd::Closed), None),
        None
    );
    // With the comparison on, it is named before the difference it makes.
    let whole = Baseline::new(h2_answer(None), false);
    assert_eq!(
        same_response().judge(&case(), &split, Some(&whole)),
        Some(failed.clone())
    );
    assert_eq!(
        failed.headline(),
        "the server answered a split delivery with an HTTP/2 GOAWAY (PROTOCOL_ERROR), where the blob sent whole got none"
    );
}

#[test]
fn a_protocol_failure_the_whole_blob_gets_too_is_no_finding() {
    let split = heard(&h2_answer(Some(1)), ReadEnd::Closed);
    let whole = Baseline::new(h2_answer(Some(0xb)), true);
    assert_eq!(
        Oracles::default().judge(&case(), &split, Some(&whole)),
        None
    );
    // Without a baseline, the gate's fresh whole answer tells.
    let delivered = (Ending::Complete, &split, None);
    assert!(matches!(
        Oracles::default().rejudge(&case(), delivered, None, &split),
        Rejudged::WholeFailsToo(FindingKind::ProtocolFailure { .. })
    ));
    let clean = heard(&h2_answer(None), ReadEnd::Settled);
    assert!(matches!(
        Oracles::default().rejudge(&case(), delivered, None, &clean),
        Rejudged::Fails(FindingKind::ProtocolFailure { code: 1, .. })
    ));
}
