//! Real servers that switch to TLS mid-conversation, from Debian's packages, run clean with
//! the answer oracle on and off: dovecot's IMAP after `STARTTLS`, and PostgreSQL after its
//! binary `SSLRequest` (one byte `S` back), each with a throwaway certificate. (`scripts/test`
//! installs both; a missing one fails these tests, saying so.)

use crate::common;
use crate::tls::certificate;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use stutterfuzz::{AnswerOracle, Stutter, TlsOptions};

/// The folder or file `fixtures/real/<name>`.
fn fixtures(name: &str) -> PathBuf {
    common::fixtures_dir("real").join(name)
}

/// The two ways a run judges answers: the same as whole (and in time), or only crashes,
/// refusals and hangs.
fn both_oracles() -> [AnswerOracle; 2] {
    [
        AnswerOracle::same().within(Duration::from_secs(2)),
        AnswerOracle::none(),
    ]
}

/// Dovecot in the foreground with the fixture's configuration filled in for `dir` (its
/// certificate, a user `fuzz` with password `fuzz`, an empty mailbox), on the port the
/// harness picks.
fn dovecot(dir: &Path) -> Command {
    common::require("dovecot", "dovecot-imapd");
    let (cert, _) = certificate(dir, false);
    assert!(cert.ends_with("cert.pem"));
    let root = nix::unistd::geteuid().is_root();
    let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .unwrap()
        .unwrap();
    let group = nix::unistd::Group::from_gid(nix::unistd::getegid())
        .unwrap()
        .unwrap();
    // As root: dovecot's own users, mail owned by nobody. Otherwise all as the test's user,
    // without chroots (which need root).
    let (user, group, login, owner, chroot) = match root {
        true => (
            "dovecot".to_owned(),
            "dovecot".to_owned(),
            "dovenull".to_owned(),
            nobody(),
            "",
        ),
        false => (
            me.name.clone(),
            group.name,
            me.name,
            (me.uid.as_raw(), me.gid.as_raw()),
            "chroot =",
        ),
    };
    let mailbox = dir.join("home/fuzz/Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(mailbox.join(sub)).unwrap();
    }
    // A fixed UIDVALIDITY (else the mailbox's creation time, which SELECT answers with).
    std::fs::write(mailbox.join("dovecot-uidlist"), "3 V1 N1\n").unwrap();
    std::fs::write(dir.join("users"), "fuzz:{PLAIN}fuzz::::::\n").unwrap();
    let config = std::fs::read_to_string(fixtures("dovecot.conf"))
        .unwrap()
        .replace("@DIR@", dir.to_str().unwrap())
        .replace("@USER@", &user)
        .replace("@GROUP@", &group)
        .replace("@LOGIN_USER@", &login)
        .replace("@UID@", &owner.0.to_string())
        .replace("@GID@", &owner.1.to_string())
        .replace("@CHROOT@", chroot);
    std::fs::write(dir.join("dovecot.conf"), config).unwrap();
    if root {
        // The services that are not root read the folder, and own the mail.
        for path in [
            dir,
            dir.join("users").as_path(),
            dir.join("key.pem").as_path(),
        ] {
            chmod(path, 0o755);
        }
        chown_tree(&dir.join("home"), owner);
    }
    let mut cmd = Command::new("dovecot");
    cmd.arg("-F").arg("-c").arg(dir.join("dovecot.conf"));
    cmd.args(["-o", "service/imap-login/inet_listener/imap/port={port}"]);
    cmd
}

fn nobody() -> (u32, u32) {
    let user = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("a user nobody");
    (user.uid.as_raw(), user.gid.as_raw())
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown_tree(path: &Path, (uid, gid): (u32, u32)) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path(), (uid, gid));
        }
    }
}

#[test]
fn dovecot_imap_after_starttls_has_no_false_alarm() {
    for oracle in both_oracles() {
        let dir = tempfile::tempdir().unwrap();
        let report = Stutter::new("127.0.0.1:0")
            .server(dovecot(dir.path()))
            .tls(TlsOptions::insecure().server_name("localhost"))
            .blobs(fixtures("imap"))
            .oracle(oracle)
            .connections(8)
            .cycles(30)
            .try_run_for(Duration::from_secs(90))
            .unwrap_or_else(|f| panic!("dovecot after STARTTLS: no false alarm:\n{f}"));
        assert_eq!(report.stats().deliveries, 30, "{report}");
    }
}

#[test]
fn postgres_after_its_ssl_request_has_no_false_alarm() {
    for oracle in both_oracles() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = certificate(dir.path(), false);
        let hba = dir.path().join("pg_hba.conf");
        // Only TLS connections are let in: a delivery that did not switch is refused.
        std::fs::write(&hba, "hostssl all all 127.0.0.1/32 trust\n").unwrap();
        chmod(&key, 0o600);
        let setting = |name: &str, path: &Path| format!("{name}={}", path.display());
        let (cert_file, key_file, hba_file) = (
            setting("ssl_cert_file", &cert),
            setting("ssl_key_file", &key),
            setting("hba_file", &hba),
        );
        let server = common::postgres(
            dir.path(),
            &[
                "-p",
                "{port}",
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "unix_socket_directories=",
                "-c",
                "ssl=on",
                "-c",
                &cert_file,
                "-c",
                &key_file,
                "-c",
                &hba_file,
            ],
        );
        let report = Stutter::new("127.0.0.1:0")
            .server(server)
            .tls(TlsOptions::with_ca(&cert))
            .blobs(fixtures("postgres-ssl"))
            .oracle(oracle)
            .connections(8)
            .cycles(30)
            .try_run_for(Duration::from_secs(60))
            .unwrap_or_else(|f| panic!("postgres after SSLRequest: no false alarm:\n{f}"));
        assert_eq!(report.stats().deliveries, 30, "{report}");
    }
}
