//! Five real servers of different protocols, none written here, draw no finding with both
//! response oracles on, every default stress mode, and no mask or normalizer: nginx (HTTP,
//! whose `Date` ticks), mosquitto (MQTT, a random client id in each MQTT 5 CONNACK),
//! unbound (DNS over TCP), redis-server (RESP) and memcached (its text protocol, a new CAS
//! token in each `gets`), each with two CPU-bound processes beside it. `scripts/test`
//! installs them; a missing one fails, saying so.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use stutterfuzz::AnswerOracle;
use stutterfuzz::Regressions;

use stutterfuzz::Stutter;

/// How long each server is fuzzed.
const FUZZ_FOR: Duration = Duration::from_secs(30);

fn real(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/real")
        .join(name)
}

/// `program` started through `sh`, with its configuration made from the template `name`
/// in `dir`: `@DIR@` filled in now, `@PORT@` with the port the harness picks.
fn configured(program: &str, name: &str, dir: &Path, args: &str) -> Command {
    let template = std::fs::read_to_string(real(name)).expect("the template is there");
    let template = template.replace("@DIR@", &dir.display().to_string());
    let tmpl = dir.join(format!("{name}.in"));
    std::fs::write(&tmpl, template).unwrap();
    let conf = dir.join(name);
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        &format!("sed \"s/@PORT@/$1/\" \"$2\" > \"$3\" && exec {program} {args}"),
        "sh",
        "{port}",
    ])
    .arg(&tmpl)
    .arg(&conf);
    cmd
}

/// Fuzzes one real server as a user who has just recorded its traffic would.
fn assert_clean(name: &str, server: Command, blobs: PathBuf) {
    // Two CPU-bound processes beside it for the whole run, as on a shared CI machine.
    let _hogs = crate::CpuHogs::start(2);
    let report = Stutter::new("127.0.0.1:0")
        .regressions(Regressions::Off)
        .server(server)
        .blobs(blobs)
        .oracle(AnswerOracle::same().within(Duration::from_secs(3)))
        .try_run_for(FUZZ_FOR)
        .unwrap_or_else(|failure| panic!("{name} is correct, yet:\n{failure}"));
    assert!(
        report.stats().deliveries > 100,
        "{name} was fuzzed: {}",
        report.stats()
    );
    eprintln!("{name}: {}", report.stats());
}

#[test]
fn nginx_is_clean() {
    common::require("nginx", "nginx-light");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("www")).unwrap();
    std::fs::write(dir.path().join("www/index.html"), "<h1>hello</h1>\n").unwrap();
    let args = format!("-p \"{}\" -c \"$3\"", dir.path().display());
    let server = configured("nginx", "nginx.conf", dir.path(), &args);
    assert_clean("nginx", server, real("http"));
}

#[test]
fn mosquitto_is_clean() {
    common::require("mosquitto", "mosquitto");
    let dir = tempfile::tempdir().unwrap();
    let server = configured("mosquitto", "mosquitto.conf", dir.path(), "-c \"$3\"");
    assert_clean("mosquitto", server, real("mqtt"));
}

#[test]
fn unbound_is_clean() {
    common::require("unbound", "unbound");
    let dir = tempfile::tempdir().unwrap();
    let server = configured("unbound", "unbound.conf", dir.path(), "-d -c \"$3\"");
    assert_clean("unbound", server, real("dns"));
}

#[test]
fn redis_server_is_clean() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/redis");
    assert_clean("redis-server", common::redis_server("{port}"), fixtures);
}

#[test]
fn memcached_is_clean() {
    common::require("memcached", "memcached");
    let mut server = Command::new("memcached");
    server.args(["-l", "127.0.0.1", "-p", "{port}", "-U", "0"]);
    if nix::unistd::geteuid().is_root() {
        server.args(["-u", "root"]);
    }
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/memcached");
    assert_clean("memcached", server, fixtures);
}
