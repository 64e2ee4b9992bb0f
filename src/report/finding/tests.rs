//! The report of a finding, as a user reads it.

use super::*;
use crate::corpus::Blob;
use crate::engine::Stood;
use crate::report::Reproduced;

#[test]
fn a_culprit_that_fails_sent_whole_is_said_to_be_no_boundary_bug() {
    let blob = Blob::new("ping.txt", "PING\n");
    let case: Case = "v1:ping.txt:2,3".parse().unwrap();
    let mut finding = Finding::new(
        FindingKind::CheckFailed {
            message: "wrong".into(),
        },
        vec![Seen::new(case.clone(), &blob, Stood::Culprit)],
        Stats::default(),
        Seed::new(1),
        "127.0.0.1:1".into(),
        Rerun::with_env("cargo test t"),
    );
    finding.narrowed = Some(Narrowed::Unsplit {
        original: case.clone(),
    });
    let text = finding.to_string();
    assert!(
        text.contains("fails alone, and so does its blob sent whole")
            && text.contains("no boundary bug"),
        "{text}"
    );
    assert_eq!(finding.culprit(), Some(&case));
    assert_eq!(
        finding.minimal(),
        None,
        "nothing to replay as a boundary bug"
    );
}

#[test]
fn many_suspects_are_listed_ten_at_most_with_one_replay_line() {
    let blob = Blob::new("ping.txt", "PING\n");
    let suspects = (0..30)
        .map(|i| {
            let case: Case = format!("v1:ping.txt:{},{}", 1 + i % 4, 4 - i % 4)
                .parse()
                .unwrap();
            Seen::new(case, &blob, Stood::InFlight).sent(1, 1)
        })
        .collect();
    let finding = Finding::new(
        FindingKind::ServerDied {
            status: std::os::unix::process::ExitStatusExt::from_raw(6),
        },
        suspects,
        Stats::default(),
        Seed::new(1),
        "127.0.0.1:1".into(),
        Rerun::with_env("cargo test t"),
    );
    let text = finding.to_string();
    assert!(
        text.contains(" 10. in flight, sent 1 of 2 chunks"),
        "{text}"
    );
    assert!(!text.contains(" 11. "), "{text}");
    assert!(text.contains("and 20 more suspects"), "{text}");
    assert_eq!(text.matches("STUTTERFUZZ_REPLAY=").count(), 1, "{text}");
}

#[test]
fn cases_that_fail_only_together_are_listed_as_the_smallest_set() {
    let blob = Blob::new("ping.txt", "PING\n");
    let cases: Vec<Case> = ["v1:ping.txt:1,4", "v1:ping.txt:3,2"]
        .iter()
        .map(|c| c.parse().unwrap())
        .collect();
    let suspects = cases
        .iter()
        .map(|c| Seen::new(c.clone(), &blob, Stood::InFlight))
        .collect();
    let mut finding = Finding::new(
        FindingKind::ServerDied {
            status: std::os::unix::process::ExitStatusExt::from_raw(6),
        },
        suspects,
        Stats::default(),
        Seed::new(1),
        "127.0.0.1:1".into(),
        Rerun::with_env("cargo test t"),
    );
    finding.narrowed = Some(Narrowed::Together {
        cases: cases.clone(),
    });
    let text = finding.to_string();
    assert!(
        text.contains("culprit   = none alone: these 2 cases fail together, and no smaller set"),
        "{text}"
    );
    for case in &cases {
        assert!(text.contains(&format!("              {case}\n")), "{text}");
    }
    assert_eq!(finding.culprit(), None);
}

#[test]
fn a_minimal_case_shows_its_own_answer_and_digits_only_differences_get_a_mask() {
    let blob = Blob::new("fetch.txt", "A004 FETCH 1 BODY[]\r\n");
    let original: Case = "v1:fetch.txt:2,19".parse().unwrap();
    let minimal: Case = "v1:fetch.txt:1,20".parse().unwrap();
    let differs = |actual: &[u8]| FindingKind::ResponseDiffers {
        expected: b"A004 OK Fetch completed (0.001 + 0.000 secs).\r\n".to_vec(),
        actual: actual.to_vec(),
        first_difference: Some(28),
        expected_closed: false,
        actual_closed: false,
        decoded: None,
    };
    let finding = narrowed(
        &blob,
        (original, minimal),
        differs(b"A004 OK Fetch completed (0.009 + 0.000 secs).\r\n"),
        differs(b"A004 OK Fetch completed (0.003 + 0.000 secs).\r\n"),
    );
    let text = finding.to_string();
    // The minimal case's own answer first, the first case's beside it.
    let mine = text.find("(0.003").expect(&text);
    let first = text.find("(0.009").expect(&text);
    assert!(mine < first, "{text}");
    assert!(text.contains("and to the minimal case [1, 20]"), "{text}");
    assert!(
        text.contains("and to the case first seen [2, 19]"),
        "{text}"
    );
    assert!(
        text.contains(r"--mask '\d+\.\d+'"),
        "a ready mask for the varying number:\n{text}"
    );
    // The cuts on the bytes, under each case.
    assert!(
        text.contains(r#""A|004 FETCH 1 BODY[]\r\n"   (each | is a cut)"#),
        "{text}"
    );
    assert!(text.contains(r#""A0|04 FETCH 1 BODY[]\r\n""#), "{text}");
}

#[test]
fn a_lone_delivery_is_certain_by_what_its_evidence_is() {
    let blob = Blob::new("ping.txt", "PING\n");
    let case: Case = "v1:ping.txt:2,3".parse().unwrap();
    let lone = |kind| {
        Finding::new(
            kind,
            vec![Seen::new(case.clone(), &blob, Stood::Culprit)],
            Stats::default(),
            Seed::new(1),
            "127.0.0.1:1".into(),
            Rerun::with_env("cargo test t"),
        )
        .to_string()
    };
    let panicked = lone(FindingKind::OutputMatched {
        stream: "stderr",
        line: "thread 'x' panicked at src/lib.rs:1:1:".into(),
        pattern: "panicked at".into(),
    });
    assert!(
        panicked.contains("certain: it was the only delivery when the server did this"),
        "{panicked}"
    );
    let checked = lone(FindingKind::CheckFailed {
        message: "wrong".into(),
    });
    assert!(
        checked.contains("certain: the bug shows in its own response"),
        "{checked}"
    );
}

#[test]
fn a_minimal_case_that_breaks_the_parser_otherwise_is_named_by_its_own_frame() {
    let blob = Blob::new("get.bin", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    let original: Case = "v1:get.bin:2,22".parse().unwrap();
    let minimal: Case = "v1:get.bin:1,23".parse().unwrap();
    let goaway = |code: u32, name: &str| FindingKind::ProtocolFailure {
        protocol: "HTTP/2",
        what: "GOAWAY",
        code,
        answer: format!("settings: none\ngoaway: {name}, last stream 1\n").into_bytes(),
    };
    let finding = narrowed(
        &blob,
        (original, minimal),
        goaway(6, "FRAME_SIZE_ERROR"),
        goaway(1, "PROTOCOL_ERROR"),
    );
    assert_eq!(finding.kind(), &goaway(1, "PROTOCOL_ERROR"));
    let text = finding.to_string();
    assert!(
        text.starts_with("stutterfuzz found a bug: the server answered a split delivery with an HTTP/2 GOAWAY (PROTOCOL_ERROR)"),
        "{text}"
    );
    // The minimal case's own answer first, the first case's after it.
    let mine = text.find("goaway: PROTOCOL_ERROR").expect(&text);
    let first = text.find("goaway: FRAME_SIZE_ERROR").expect(&text);
    assert!(mine < first, "{text}");
    assert!(
        text.contains("the case first seen [2, 22] failed otherwise: the server answered a split delivery with an HTTP/2 GOAWAY (FRAME_SIZE_ERROR)"),
        "{text}"
    );
}

/// A finding first seen as `first` in the culprit `original` of `blob`, narrowed to `minimal`,
/// which failed 3 of 3 times when delivered again, the first time as `evidence`.
fn narrowed(
    blob: &Blob,
    (original, minimal): (Case, Case),
    first: FindingKind,
    evidence: FindingKind,
) -> Finding {
    let mut finding = Finding::new(
        first,
        vec![Seen::new(original.clone(), blob, Stood::Culprit)],
        Stats::default(),
        Seed::new(1),
        "127.0.0.1:1".into(),
        Rerun::with_env("cargo test t"),
    );
    let reproduced = Reproduced {
        failed: 3,
        tries: 3,
        evidence: Some(evidence),
        output: None,
    };
    finding.set_narrowed(Some(Narrowed::culprit(
        original,
        minimal,
        reproduced,
        true,
        blob.bytes(),
    )));
    finding
}
