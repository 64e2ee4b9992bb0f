//! The delivery record says what was sent; a server that logs its reads says what arrived.

use crate::common;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;
use stutterfuzz::{Chance, Disruptions, Pacing};

use common::{blob_dir, fixture_command};

#[test]
fn the_record_matches_what_the_server_read() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("record.txt");
    let reads = dir.path().join("reads.txt");
    let mut server = fixture_command("read-recorder", None);
    server.env("READ_LOG", &reads);
    let report = common::stutter("127.0.0.1:0")
        .server(server)
        .blobs(blob_dir())
        .control(stutterfuzz::RunControl::default().record(&record))
        .connections(10)
        .cycles(10)
        .run_for(Duration::from_secs(60));
    assert_eq!(report.stats().deliveries, 50);

    let text = std::fs::read_to_string(&record).unwrap();
    assert!(
        text.starts_with("# stutterfuzz delivery record v1"),
        "{text}"
    );
    let sent: HashMap<u16, (u64, usize)> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let fields: Vec<&str> = l.splitn(4, ' ').collect();
            let sizes: u64 = sizes_of(fields[1]).iter().sum();
            let blob_len: usize = fields[2].parse().unwrap();
            assert!(blob_dir().join(fields[3]).is_file(), "{l}");
            (fields[0].parse().unwrap(), (sizes, blob_len))
        })
        .collect();
    assert_eq!(
        sent.len() as u64,
        50 + report.stats().stalled,
        "one line per delivery (and per probe of a pause mid-message), each on its own port"
    );

    let read = reads_of(&reads, sent.keys());
    for (port, (bytes, blob_len)) in &sent {
        assert!(*bytes as usize <= *blob_len);
        let read_total = read.get(port).map(|sizes| sizes.iter().sum::<u64>());
        assert_eq!(read_total, Some(*bytes), "connection from port {port}");
    }
}

/// The sizes of the reads the server logged in `log`, per connection (by the client's port),
/// once it has logged each of `ports`: it logs a connection when it sees it close, which may
/// come after the run.
fn reads_of<'a>(
    log: &Path,
    ports: impl Iterator<Item = &'a u16> + Clone,
) -> HashMap<u16, Vec<u64>> {
    let logged = || -> HashMap<u16, Vec<u64>> {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.split_once(' '))
            .map(|(port, sizes)| (port.parse().unwrap(), sizes_of(sizes)))
            .collect()
    };
    common::wait_until(
        "the server logging every connection",
        Duration::from_secs(5),
        || {
            let read = logged();
            ports.clone().all(|port| read.contains_key(port))
        },
    );
    logged()
}

/// `3,1,4` as sizes.
fn sizes_of(list: &str) -> Vec<u64> {
    list.split(',').filter_map(|n| n.parse().ok()).collect()
}

/// Per delivery: the chunk sizes sent, and the sizes the server read.
type SentAndRead = Vec<(Vec<u64>, Vec<u64>)>;

/// Delivers bytewise to a server that sleeps before every read; returns what was sent and
/// read per delivery, and the stats.
fn against_a_slow_reader(stutter: stutterfuzz::Stutter) -> (SentAndRead, stutterfuzz::Stats) {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("record.txt");
    let reads = dir.path().join("reads.txt");
    let mut server = fixture_command("read-recorder", None);
    server.env("READ_LOG", &reads).env("READ_DELAY_MS", "5");
    let report = stutter
        .server(server)
        .blob("lines", "SET a 1\nGET a\n")
        .split_mode(stutterfuzz::SplitMode::Bytewise)
        // Pauses mid-message add probe connections and boundaries of their own.
        .disruptions(
            Disruptions::default()
                .close(Chance::NEVER)
                .stall(Chance::NEVER),
        )
        .control(stutterfuzz::RunControl::default().record(&record))
        .connections(4)
        .cycles(4)
        .run_for(Duration::from_secs(60));
    let sent: Vec<(u16, Vec<u64>)> = std::fs::read_to_string(&record)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let fields: Vec<&str> = l.splitn(4, ' ').collect();
            (fields[0].parse().unwrap(), sizes_of(fields[1]))
        })
        .collect();
    let read = reads_of(&reads, sent.iter().map(|(port, _)| port));
    let pairs = sent
        .into_iter()
        .map(|(port, sizes)| (sizes, read.get(&port).cloned().unwrap_or_default()))
        .collect();
    (pairs, report.stats().clone())
}

#[test]
fn adaptive_pacing_waits_for_a_slow_server_to_read_each_chunk() {
    let (pairs, stats) = against_a_slow_reader(common::stutter("127.0.0.1:0"));
    assert_eq!(pairs.len(), 4);
    for (sent, read) in &pairs {
        assert_eq!(sent.len(), 14, "one byte at a time");
        assert_eq!(read, sent, "every chunk read on its own");
    }
    assert_eq!(stats.unread_before_next, 0, "{stats}");
    assert!(stats.read_checks > 0, "{stats}");
}

#[test]
fn a_fixed_pause_shorter_than_the_server_merges_chunks_and_the_stats_say_so() {
    let (pairs, stats) = against_a_slow_reader(
        common::stutter("127.0.0.1:0").pacing(Pacing::AfterAck(Duration::ZERO)),
    );
    assert!(
        pairs.iter().any(|(sent, read)| read != sent),
        "some chunks merged"
    );
    assert!(stats.unread_before_next > 0, "{stats}");
    assert!(
        stats.to_string().contains("boundaries may be merged"),
        "{stats}"
    );
}
