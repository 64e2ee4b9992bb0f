//! `stutterfuzz import`: blobs from packet captures. Captures built here packet by packet
//! (out of order, retransmitted, lost segments, IPv4 and IPv6, pcap and pcapng), and one that
//! tcpdump takes of real traffic (with a turn: the client went on after an answer), which
//! then fuzzes the server it came from.

use crate::common;

use std::borrow::Cow;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use stutterfuzz::AnswerOracle;

use assert_cmd::cargo::CommandCargoExt;
use etherparse::PacketBuilder;
use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;

/// One client-to-server segment of a test capture.
struct Seg {
    client_port: u16,
    seq: u32,
    syn: bool,
    payload: &'static [u8],
}

const SERVER_PORT: u16 = 7000;

fn seg(client_port: u16, seq: u32, syn: bool, payload: &'static [u8]) -> Seg {
    Seg {
        client_port,
        seq,
        syn,
        payload,
    }
}

fn frame_v4(s: &Seg) -> Vec<u8> {
    let builder = PacketBuilder::ethernet2([0; 6], [0; 6])
        .ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
        .tcp(s.client_port, SERVER_PORT, s.seq, 65535);
    let builder = if s.syn { builder.syn() } else { builder.ack(1) };
    let mut out = Vec::new();
    builder.write(&mut out, s.payload).unwrap();
    out
}

fn frame_v6(s: &Seg) -> Vec<u8> {
    let mut local = [0u8; 16];
    local[15] = 1;
    let builder =
        PacketBuilder::ipv6(local, local, 64).tcp(s.client_port, SERVER_PORT, s.seq, 65535);
    let builder = if s.syn { builder.syn() } else { builder.ack(1) };
    let mut out = Vec::new();
    builder.write(&mut out, s.payload).unwrap();
    out
}

fn import(capture: &Path, out: &Path) -> std::process::Output {
    Command::cargo_bin("stutterfuzz")
        .unwrap()
        .args(["import"])
        .arg(capture)
        .args(["--port", &SERVER_PORT.to_string(), "--out"])
        .arg(out)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn blobs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_pcap_with_segments_out_of_order_retransmitted_and_lost_gives_the_whole_streams() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture.pcap");
    let segments = [
        seg(40001, 1000, true, b""),
        seg(40001, 1009, false, b"GET k\n"), // ahead of its turn
        seg(40001, 1001, false, b"SET k v\n"),
        seg(40001, 1001, false, b"SET k v\n"), // retransmitted
        seg(40002, 5000, true, b""),
        seg(40002, 5001, false, b"PING\n"),
        seg(40002, 5020, false, b"lost before me\n"), // a hole at byte 5
        seg(40003, 9000, true, b""),
        seg(40003, 9001, false, b"QUIT\n"),
    ];
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        ..Default::default()
    };
    let mut writer =
        PcapWriter::with_header(std::fs::File::create(&capture).unwrap(), header).unwrap();
    for (i, s) in segments.iter().enumerate() {
        let frame = frame_v4(s);
        let time = Duration::from_millis(i as u64);
        writer
            .write_packet(&PcapPacket::new(time, frame.len() as u32, &frame))
            .unwrap();
    }
    drop(writer);
    let out = dir.path().join("blobs");
    let result = import(&capture, &out);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{stderr}");
    assert_eq!(
        blobs(&out),
        [
            ("0001-set".to_owned(), b"SET k v\nGET k\n".to_vec()),
            ("0002-quit".to_owned(), b"QUIT\n".to_vec()),
        ]
    );
    assert!(
        stderr.contains("skipped the stream from 127.0.0.1:40002 to 127.0.0.1:7000: the capture lost 14 bytes at byte 5"),
        "{stderr}"
    );
    assert!(
        stderr.contains("2 blobs (19 bytes) from 9 packets"),
        "{stderr}"
    );
}

#[test]
fn a_pcapng_of_ipv6_without_link_headers_is_read_too() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture.pcapng");
    let mut writer = PcapNgWriter::new(std::fs::File::create(&capture).unwrap()).unwrap();
    writer
        .write_pcapng_block(InterfaceDescriptionBlock {
            linktype: DataLink::RAW,
            snaplen: 0,
            options: vec![],
        })
        .unwrap();
    // A stream that began before the capture: no SYN, its sequence numbers wrap.
    for (i, s) in [
        seg(40010, 0xffff_fffc, false, b"ECHO "),
        seg(40010, 1, false, b"hi\n"),
    ]
    .iter()
    .enumerate()
    {
        let frame = frame_v6(s);
        writer
            .write_pcapng_block(EnhancedPacketBlock {
                interface_id: 0,
                timestamp: Duration::from_millis(i as u64),
                original_len: frame.len() as u32,
                data: Cow::Owned(frame),
                options: vec![],
            })
            .unwrap();
    }
    drop(writer);
    let out = dir.path().join("blobs");
    let result = import(&capture, &out);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert_eq!(
        blobs(&out),
        [("0001-echo".to_owned(), b"ECHO hi\n".to_vec())]
    );
}

#[test]
fn bad_captures_and_ports_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_capture = dir.path().join("notes.txt");
    std::fs::write(&not_a_capture, "hello").unwrap();
    for (capture, says) in [
        (dir.path().join("missing.pcap"), "cannot read capture"),
        (not_a_capture, "is not a pcap or pcapng capture"),
    ] {
        let result = import(&capture, &dir.path().join("out"));
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert_eq!(result.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(says) && stderr.lines().count() == 1,
            "{stderr}"
        );
    }
}

#[test]
fn traffic_that_tcpdump_captured_imports_as_the_blobs_sent_and_fuzzes_its_server_clean() {
    common::require("tcpdump", "tcpdump");
    let (_server, addr) = common::start_fixture("line-server", "127.0.0.1:0");
    let port: u16 = addr.rsplit_once(':').unwrap().1.parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("lo.pcap");
    let mut tcpdump = common::KillOnDrop(
        Command::new("tcpdump")
            .args(["-i", "lo", "--immediate-mode", "-U", "-Z", "root", "-w"])
            .arg(&capture)
            .arg(format!("tcp port {port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut said = String::new();
    BufReader::new(tcpdump.0.stderr.take().unwrap())
        .read_line(&mut said)
        .unwrap();
    assert!(
        said.contains("listening on lo"),
        "tcpdump could not capture on lo (run the tests as root, or give tcpdump the capture capability): {said}"
    );
    // "listening" can come before the first packets reach the file: warm up with empty
    // connections (import skips them) until one shows in it, so no stream starts unseen.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&capture).map_or(0, |m| m.len()) <= 24 {
        assert!(
            std::time::Instant::now() < deadline,
            "tcpdump wrote no packet within 10 s"
        );
        drop(std::net::TcpStream::connect(&addr));
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent: [&[&[u8]]; 2] = [
        &[b"SET session alice\n", b"GET sess", b"ion\n"],
        &[b"PING\nECHO captured\n"],
    ];
    for writes in sent {
        let mut client = std::net::TcpStream::connect(&addr).unwrap();
        for write in writes {
            client.write_all(write).unwrap();
            // A client whose writes go out a moment apart, each a segment of its own.
            std::thread::sleep(Duration::from_millis(20));
        }
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = String::new();
        let _ = std::io::Read::read_to_string(&mut client, &mut answer);
    }
    // Every packet in the file, the last connection's end too: it stops growing.
    let (mut size, mut unchanged) = (0, 0);
    common::wait_until(
        "tcpdump writing the last packets",
        Duration::from_secs(10),
        || {
            let now = std::fs::read(&capture).unwrap_or_default();
            unchanged = if now.len() == size { unchanged + 1 } else { 0 };
            size = now.len();
            unchanged >= 3 && now.windows(13).any(|w| w == b"ECHO captured")
        },
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(tcpdump.0.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let _ = tcpdump.0.wait();

    let out = dir.path().join("blobs");
    let result = Command::cargo_bin("stutterfuzz")
        .unwrap()
        .arg("import")
        .arg(&capture)
        .args(["--port", &port.to_string(), "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let got: Vec<Vec<u8>> = blobs(&out).into_iter().map(|(_, bytes)| bytes).collect();
    // The first client sent its GET after the server had answered its SET (4 bytes): a turn,
    // written as a wait. The second sent everything at once. What the server answered is
    // kept too, each answer after the client bytes it followed (`#~ heard`, never sent).
    let expected: Vec<Vec<u8>> = vec![
        b"#~ stutterfuzz conversation\nSET session alice\n#~ heard +OK%0A\n#~ wait bytes=4\nGET session\n#~ heard +alice%0A\n".to_vec(),
        [
            b"#~ stutterfuzz conversation\n".to_vec(),
            sent[1].concat(),
            b"#~ heard +PONG%0A+captured%0A\n".to_vec(),
        ]
        .concat(),
    ];
    assert_eq!(
        got,
        expected,
        "{:?}",
        got.iter()
            .map(|b| String::from_utf8_lossy(b))
            .collect::<Vec<_>>()
    );

    common::stutter("127.0.0.1:0")
        .server(common::fixture_command("line-server", None))
        .blobs(&out)
        .oracle(AnswerOracle::same())
        .cycles(50)
        .try_run_for(Duration::from_secs(60))
        .unwrap_or_else(|f| panic!("the captured blobs fuzz the correct server clean:\n{f}"));
}
