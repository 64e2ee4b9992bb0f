//! A 100 MB blob is sent from one shared copy, never copied per connection. (Its own test
//! binary, so that the process's peak memory is this test's alone.)

use std::time::Duration;
use stutterfuzz::Regressions;
use stutterfuzz::{Chance, Disruptions};

use stutterfuzz::Stutter;
use tokio::io::AsyncReadExt;

const SIZE: usize = 100 * 1024 * 1024;

fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib / 1024
}

/// Reads and discards everything, with a small buffer.
async fn discard(listener: tokio::net::TcpListener) {
    while let Ok((mut stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(1..) = stream.read(&mut buf).await {}
        });
    }
}

#[test]
fn a_100_mb_blob_is_shared_by_every_connection() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big.bin"), vec![b'x'; SIZE]).unwrap();
    let report = Stutter::serve(discard)
        .regressions(Regressions::Off)
        .blobs(dir.path())
        .disruptions(Disruptions::default().close(Chance::NEVER))
        .connections(4)
        .cycles(4)
        .run_for(Duration::from_secs(120));
    assert_eq!(report.stats().deliveries, 4);
    assert_eq!(report.stats().bytes, 4 * SIZE as u64);
    // One copy loaded (100 MiB); four copies would be 400 MiB more.
    let peak = peak_rss_mib();
    assert!(peak < 260, "peak RSS {peak} MiB");
}
