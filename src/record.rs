//! The delivery record: one line per finished delivery, so anyone can check, against their
//! own server-side log, what was really sent.
//!
//! ```text
//! # stutterfuzz delivery record v1: <local port> <chunk sizes the kernel accepted, or -> <blob length> <blob name>
//! 40312 3,1,19 23 set-get.txt
//! 40314 - 6 ping.txt
//! ```
//! A chunk the kernel took in parts shows as several sizes; sizes that add up to less than
//! the blob length mean the connection was closed early (on purpose, or by the server).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{SetupError, SetupErrorKind};

/// An open record file.
pub(crate) struct Recorder {
    path: PathBuf,
    out: BufWriter<File>,
}

impl Recorder {
    /// Creates (or truncates) the file and writes its header.
    pub(crate) fn create(path: &Path) -> Result<Self, SetupError> {
        let fail = |e: std::io::Error| {
            SetupError::new(
                SetupErrorKind::Settings,
                format!("cannot write the delivery record {}: {e}", path.display()),
            )
            .with_source(e)
        };
        let mut out = BufWriter::new(File::create(path).map_err(fail)?);
        writeln!(
            out,
            "# stutterfuzz delivery record v1: <local port> <chunk sizes the kernel accepted, or -> <blob length> <blob name>"
        )
        .map_err(fail)?;
        Ok(Recorder {
            path: path.to_owned(),
            out,
        })
    }

    /// Appends one delivery's line.
    pub(crate) fn delivery(
        &mut self,
        local_port: u16,
        accepted: &[usize],
        blob_len: usize,
        blob: &str,
    ) {
        let _ = writeln!(self.out, "{}", line(local_port, accepted, blob_len, blob));
    }

    /// Writes everything out and syncs it to disk.
    pub(crate) fn finish(&mut self) -> Result<(), SetupError> {
        self.out
            .flush()
            .and_then(|()| self.out.get_ref().sync_all())
            .map_err(|e| {
                SetupError::new(
                    SetupErrorKind::Settings,
                    format!(
                        "cannot write the delivery record {}: {e}",
                        self.path.display()
                    ),
                )
                .with_source(e)
            })
    }
}

fn line(local_port: u16, accepted: &[usize], blob_len: usize, blob: &str) -> String {
    let sizes = if accepted.is_empty() {
        "-".to_owned()
    } else {
        accepted
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    format!("{local_port} {sizes} {blob_len} {blob}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_port_sizes_length_and_blob() {
        assert_eq!(
            line(40312, &[3, 1, 19], 23, "set-get.txt"),
            "40312 3,1,19 23 set-get.txt"
        );
        assert_eq!(line(40314, &[], 6, "ping.txt"), "40314 - 6 ping.txt");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("record.txt");
        let mut recorder = Recorder::create(&path).unwrap();
        recorder.delivery(1, &[2, 2], 4, "a");
        recorder.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# stutterfuzz delivery record v1"),
            "{text}"
        );
        assert!(text.ends_with("\n1 2,2 4 a\n"), "{text}");
    }
}
