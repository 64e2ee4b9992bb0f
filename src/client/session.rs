//! One client run from its settings to its report: the answers' source made ready, the client
//! run twice with its answers whole (what it should give, and what of that varies), then
//! with its answers cut, several at a time; a failure is confirmed alone before it counts,
//! narrowed to a locally minimal cut, and reported.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::answers::{self, Answers};
use super::attempt::{Attempt, Ctx, cutting, server_died};
use super::baseline::baseline;
use super::case::ClientCase;
use super::certificate;
use super::gate::{confirm, narrow};
use super::judge::{ClientFindingKind, Expected};
use super::plan::{Settings, Source};
use super::regressions;
use super::report::{ClientFailure, ClientFinding, ClientReport};
use super::signature;
use super::streams::Streams;
use super::tally::Tally;
use crate::config::{Endpoint, Gap, free_port};
use crate::engine::Pacing;
use crate::engine::exit_waits::RUN_END_SETTLE;
use crate::error::SetupError;
use crate::server::ServerProcess;
use crate::stats::LISTED_UNCONFIRMED;

/// How long to wait for acknowledgements, and for a client to read a chunk.
const ACK_LIMIT: Duration = Duration::from_secs(1);

/// Runs a client run with these settings for at most `budget`.
pub(crate) async fn run(
    mut settings: Settings,
    budget: Duration,
) -> Result<ClientReport, ClientFailure> {
    let started = Instant::now();
    let mut server = None;
    let answers = match &settings.source {
        Source::Upstream(addr) => {
            crate::run::check_listening(&Endpoint::Tcp(*addr), settings.timeout).await?;
            Answers::Upstream(*addr)
        }
        Source::Server(spec) => {
            let addr = free_port(settings.host)?;
            let listen = Endpoint::Tcp(addr);
            let mut process = ServerProcess::spawn(spec, &listen, None).await?;
            process
                .wait_ready(&listen, settings.startup_timeout)
                .await?;
            server = Some(process);
            Answers::Upstream(addr)
        }
        Source::Recorded(dir) => Answers::Recorded(answers::load(dir)?.into()),
    };
    let upstream_tls = match (&answers, &settings.tls) {
        (Answers::Upstream(addr), Some(options)) => {
            Some(crate::tls::Tls::new(options, &addr.ip().to_string())?)
        }
        _ => None,
    };
    let identity = certificate::for_run(&settings, &answers)?;
    if let Some(run) = &identity {
        settings.client = settings.client.clone().trusting(&run.identity.cert);
    }
    let ctx = Arc::new(Ctx {
        identity,
        upstream_tls,
        server: std::sync::Mutex::new(server),
        answers: Arc::new(answers),
        pacing: Arc::new(Pacing::new(
            Gap::Adaptive(Duration::from_millis(2)),
            ACK_LIMIT,
        )),
        settings,
    });
    let outcome = fuzz(&ctx, started, budget).await;
    let server = ctx.server.lock().unwrap_or_else(|e| e.into_inner()).take();
    let Some(mut process) = server else {
        return outcome;
    };
    // A server that is ending as the run ends (a process takes some milliseconds to exit)
    // counts as one that ended during it.
    let ended = tokio::time::timeout(RUN_END_SETTLE, process.exited()).await;
    process.stop(Duration::from_secs(1)).await;
    match ended {
        Ok(status) => Err(ClientFailure::Setup(server_died(&process, status))),
        Err(_) => outcome,
    }
}

/// The client run whole (its baseline), then its one replayed case, or the recorded
/// regressions and batches of cut runs until the budget or the cycle count.
async fn fuzz(
    ctx: &Arc<Ctx>,
    started: Instant,
    budget: Duration,
) -> Result<ClientReport, ClientFailure> {
    let (mut expected, streams, source) = baseline(ctx).await?;
    let mut report = empty_report(ctx);
    if let Some(case) = ctx.settings.replay.clone() {
        return replay(ctx, case, &mut expected, report, started).await;
    }
    let mut tally = Tally::new(ctx.settings.keep_going.clone(), started);
    if let Some(found) = regressed(ctx, &mut expected, &mut report).await? {
        let found = finding(ctx, &mut expected, found, &report).await;
        tally.take(found, &report)?;
    }
    Batches {
        ctx,
        started,
        budget,
        source,
        streams,
        expected,
        report,
        tally,
        iteration: 0,
        last_progress: Instant::now(),
    }
    .run()
    .await
}

/// The report of a run that has not run the client cut yet, with a note when tries run at
/// once against one real server (they share its state).
fn empty_report(ctx: &Ctx) -> ClientReport {
    let mut report = ClientReport {
        seed: ctx.settings.seed,
        runs: 0,
        boundaries: 0,
        boundaries_in_tls: 0,
        kept: 0,
        unconfirmed: 0,
        unconfirmed_cases: Vec::new(),
        notes: Vec::new(),
        elapsed: Duration::ZERO,
        replayed: None,
        findings_distinct: 0,
        findings_met: 0,
    };
    if ctx.settings.parallel > 1 && !matches!(ctx.settings.source, Source::Recorded(_)) {
        report.notes.push(format!(
            "{} tries of the client run at once against one server and share its state: a client \
             that writes and reads the same keys may see another try's writes (an unconfirmed \
             case, or a failure that is no boundary bug); give each try keys of its own, or \
             run one at a time (.connections(1), --parallel 1)",
            ctx.settings.parallel
        ));
    }
    report
}

/// Replays `case` once: a failure is the finding, as given (not confirmed or narrowed);
/// a pass ends the run with the case noted as replayed.
async fn replay(
    ctx: &Arc<Ctx>,
    case: ClientCase,
    expected: &mut Expected,
    mut report: ClientReport,
    started: Instant,
) -> Result<ClientReport, ClientFailure> {
    let attempt = ctx.attempt(cutting(&case)).await?;
    report.runs = 1;
    count(&mut report, &attempt);
    if let Some(kind) = expected.judge(&attempt.run) {
        let found = Confirmed {
            kind,
            case: case.clone(),
            minimal: case,
            attempt,
            notes: Vec::new(),
            replayed: true,
        };
        let found = finding(ctx, expected, found, &report).await;
        return Err(ClientFailure::Finding(found));
    }
    report.elapsed = started.elapsed();
    report.replayed = Some(case);
    Ok(report)
}

/// A client run past its baseline and regressions: what the batches share.
struct Batches<'a> {
    ctx: &'a Arc<Ctx>,
    started: Instant,
    budget: Duration,
    /// The answers' source's name (cases are drawn for it).
    source: String,
    streams: Streams,
    expected: Expected,
    report: ClientReport,
    tally: Tally,
    /// The next case's draw.
    iteration: u64,
    /// When progress was last reported.
    last_progress: Instant,
}

impl Batches<'_> {
    /// Batch after batch while the budget and the cycle count last; then the report, or
    /// the findings of a run that kept going.
    async fn run(mut self) -> Result<ClientReport, ClientFailure> {
        while self.within() {
            let doubts = self.batch().await?;
            self.ctx.server_died()?;
            judge_doubts(
                self.ctx,
                &self.streams,
                &mut self.expected,
                &mut self.tally,
                &mut self.report,
                doubts,
            )
            .await?;
            self.progress();
        }
        self.report.elapsed = self.started.elapsed();
        self.tally.end(self.report)
    }

    /// True while the time budget lasts and the cycle count (if any) is not reached.
    fn within(&self) -> bool {
        self.started.elapsed() < self.budget
            && self
                .ctx
                .settings
                .cycles
                .is_none_or(|n| self.report.runs < n)
    }

    /// Runs up to `parallel` tries at once (no more than the cycles left), counts them, and
    /// returns those whose client failed, to be judged alone.
    async fn batch(&mut self) -> Result<Vec<Doubt>, ClientFailure> {
        let ctx = self.ctx;
        let mut batch = JoinSet::new();
        let left = ctx
            .settings
            .cycles
            .map_or(u64::MAX, |n| n - self.report.runs);
        for _ in 0..left.min(ctx.settings.parallel as u64) {
            let case = self
                .streams
                .draw(&ctx.settings, &self.source, self.iteration);
            self.iteration += 1;
            let iteration = self.iteration;
            let ctx = ctx.clone();
            batch.spawn(async move {
                let attempt = ctx.attempt(cutting(&case)).await;
                (iteration, case, attempt)
            });
        }
        let mut doubts = Vec::new();
        while let Some(done) = batch.join_next().await {
            let Ok((at, case, attempt)) = done else {
                continue;
            };
            let attempt = attempt?;
            self.report.runs += 1;
            count(&mut self.report, &attempt);
            if let Some(kind) = self.expected.judge(&attempt.run) {
                doubts.push((at, case, kind, attempt));
            }
        }
        Ok(doubts)
    }

    /// Reports progress when the settings ask for it and its interval has passed.
    fn progress(&mut self) {
        if let Some(progress) = &self.ctx.settings.progress
            && self.last_progress.elapsed() >= progress.every
        {
            self.report.elapsed = self.started.elapsed();
            self.tally.count(&mut self.report);
            (progress.callback)(&self.report);
            self.last_progress = Instant::now();
        }
    }
}

/// A try whose client failed once, in the order drawn: its case, what it did, the try.
type Doubt = (u64, ClientCase, ClientFindingKind, Attempt);

/// Each doubt alone, with no other run of the client beside it, in the order they were
/// drawn (so a seed finds the same case whatever ran first): met before, counted; confirmed,
/// narrowed and taken in as a finding; else counted unconfirmed, with how it went alone.
async fn judge_doubts(
    ctx: &Arc<Ctx>,
    streams: &Streams,
    expected: &mut Expected,
    tally: &mut Tally,
    report: &mut ClientReport,
    mut doubts: Vec<Doubt>,
) -> Result<(), ClientFailure> {
    doubts.sort_by_key(|(at, ..)| *at);
    for (_, case, kind, attempt) in doubts {
        // Met before (known, or found already) as far as the failing try shows: counted,
        // not confirmed or narrowed again.
        if tally.goes_on() && tally.met_before(&signature::of(&kind, &attempt, &case)) {
            continue;
        }
        match confirm(ctx, expected, &case, &kind).await? {
            Ok(attempt) => {
                let place = signature::place(&kind, &attempt);
                let minimal =
                    narrow(ctx, streams, expected, &case, &kind, place.as_deref()).await?;
                let notes = record(ctx, &minimal, &kind).into_iter().collect();
                let found = Confirmed {
                    kind,
                    case,
                    minimal,
                    attempt,
                    notes,
                    replayed: false,
                };
                let found = finding(ctx, expected, found, report).await;
                tally.take(found, report)?;
            }
            Err(alone) => {
                report.unconfirmed += 1;
                if report.unconfirmed_cases.len() < LISTED_UNCONFIRMED {
                    // What failed once, in a few words, and how it went alone.
                    let what: String = kind.to_string().chars().take(80).collect();
                    report
                        .unconfirmed_cases
                        .push(format!("{case} ({what}; {alone})"));
                }
            }
        }
    }
    Ok(())
}

fn count(report: &mut ClientReport, attempt: &Attempt) {
    for served in &attempt.served {
        report.boundaries += served.boundaries;
        report.boundaries_in_tls += served.boundaries_in_tls;
        report.kept += served.kept;
    }
}

/// The first case recorded in the regression file that fails again, confirmed.
async fn regressed(
    ctx: &Ctx,
    expected: &mut Expected,
    report: &mut ClientReport,
) -> Result<Option<Confirmed>, SetupError> {
    let Some(file) = &ctx.settings.regressions else {
        return Ok(None);
    };
    for case in regressions::recorded(&file.path)? {
        let attempt = ctx.attempt(cutting(&case)).await?;
        report.runs += 1;
        count(report, &attempt);
        let Some(kind) = expected.judge(&attempt.run) else {
            continue;
        };
        if let Ok(attempt) = confirm(ctx, expected, &case, &kind).await? {
            let notes = vec![format!(
                "recorded in {} and failing again",
                file.path.display()
            )];
            return Ok(Some(Confirmed {
                kind,
                minimal: case.clone(),
                case,
                attempt,
                notes,
                replayed: false,
            }));
        }
    }
    Ok(None)
}

/// Appends the case to the regression file, when there is one to write; what became of it.
fn record(ctx: &Ctx, case: &ClientCase, kind: &ClientFindingKind) -> Option<String> {
    let file = ctx.settings.regressions.as_ref()?;
    Some(match file {
        file if !file.write => format!(
            "not recorded under CI (set STUTTERFUZZ_SAVE_REGRESSIONS to write it): add the line {case} to {}",
            file.path.display()
        ),
        file => match regressions::record(&file.path, case, &kind.to_string()) {
            Ok(()) => format!("recorded in {}, run first from now on", file.path.display()),
            Err(e) => format!(
                "could not record it in {}: {e}; add the line {case} by hand",
                file.path.display()
            ),
        },
    })
}

/// A confirmed failure, before it is reported.
struct Confirmed {
    kind: ClientFindingKind,
    case: ClientCase,
    minimal: ClientCase,
    attempt: Attempt,
    notes: Vec<String>,
    /// Found by replaying the case once, not confirmed alone.
    replayed: bool,
}

async fn finding(
    ctx: &Ctx,
    expected: &mut Expected,
    found: Confirmed,
    report: &ClientReport,
) -> Box<ClientFinding> {
    let Confirmed {
        kind,
        case,
        minimal,
        attempt,
        notes,
        replayed,
    } = found;
    // What the narrowed case gives, for the report, and its own failure for the headline
    // (the first failure's when it passes now, or fails otherwise).
    // A replay's one try is the minimal case's own: it is not run twice.
    let again = match replayed {
        true => None,
        false => ctx.attempt(cutting(&minimal)).await.ok(),
    };
    let again = again.and_then(|again| {
        let own = expected.judge(&again.run).filter(|k| k.same_kind(&kind))?;
        Some((again, own))
    });
    let (shown, kind) = again.unwrap_or((attempt, kind));
    // The answers as the client received them, each cut marked.
    let answers_view = shown
        .served
        .first()
        .filter(|served| !served.answered.is_empty())
        .map(|served| answers_cut(&served.answered, minimal.answers(), served.tls_at));
    let signature = signature::of(&kind, &shown, &minimal);
    let shown = shown.run;
    let notes = notes
        .into_iter()
        .chain(report.notes.iter().cloned())
        .collect();
    Box::new(ClientFinding {
        kind,
        case,
        minimal,
        client: ctx.describe_client(),
        answers: ctx.answers.describe(),
        whole_output: expected.output.clone(),
        split_output: shown.output,
        stderr: shown.stderr.indented(),
        seed: ctx.settings.seed,
        runs: report.runs,
        notes,
        answers_view,
        replayed,
        signature,
    })
}

/// `answered` (a connection's answer stream) shown with the cuts of `splits`, and where TLS
/// started (`tls_at`); bytes past them went in one last chunk.
fn answers_cut(answered: &[u8], splits: &crate::split::Splits, tls_at: Option<usize>) -> String {
    let mut chunks = splits.chunks().to_vec();
    let rest = answered.len().saturating_sub(splits.total());
    if rest > 0 {
        chunks.push(rest);
    }
    match crate::split::Splits::new(chunks) {
        Some(cut) => crate::case::cut_view_at(answered, &cut, tls_at),
        None => crate::case::cut_view_at(answered, splits, tls_at),
    }
}
