//! The delivery log (`.record(path)`, `--record`): one line per finished delivery, so anyone
//! can check, against their own server-side log, what was really sent.
//!
//! ```text
//! # stutterfuzz delivery record v1: <local port> <chunk sizes the kernel accepted, or -> <blob length> <blob name>
//! 40312 3,1,19 23 set-get.txt
//! 40314 - 6 ping.txt
//! ```
//! A chunk the kernel took in parts shows as several sizes; sizes that add up to less than
//! the blob length mean the connection was closed early (on purpose, or by the server).
//!
//! The file is written by a blocking task of its own: the run loop only hands it text, so a
//! slow disk never stalls a runtime thread.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use tokio::task::JoinHandle;

use crate::error::{SetupError, SetupErrorKind};

const HEADER: &str = "# stutterfuzz delivery record v1: <local port> <chunk sizes the kernel accepted, or -> <blob length> <blob name>";

/// Lines are handed to the writer in batches of about this many bytes.
const BATCH: usize = 64 * 1024;

/// An open delivery log.
pub(crate) struct DeliveryLog {
    path: PathBuf,
    batch: String,
    to_writer: Option<mpsc::Sender<String>>,
    writer: Option<JoinHandle<std::io::Result<()>>>,
}

impl DeliveryLog {
    /// Creates (or truncates) the file and writes its header.
    pub(crate) async fn create(path: &Path) -> Result<Self, SetupError> {
        let owned = path.to_owned();
        let opened = tokio::task::spawn_blocking(move || -> std::io::Result<BufWriter<File>> {
            let mut out = BufWriter::new(File::create(&owned)?);
            writeln!(out, "{HEADER}")?;
            Ok(out)
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        let mut out = opened.map_err(|e| write_error(path, e))?;
        let (to_writer, batches) = mpsc::channel::<String>();
        let writer = tokio::task::spawn_blocking(move || {
            for batch in batches {
                out.write_all(batch.as_bytes())?;
            }
            out.flush()?;
            out.get_ref().sync_all()
        });
        Ok(DeliveryLog {
            path: path.to_owned(),
            batch: String::new(),
            to_writer: Some(to_writer),
            writer: Some(writer),
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
        self.batch
            .push_str(&line(local_port, accepted, blob_len, blob));
        self.batch.push('\n');
        if self.batch.len() >= BATCH {
            self.hand_over();
        }
    }

    fn hand_over(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        if let Some(to_writer) = &self.to_writer {
            // A writer that stopped has an error, which `finish` reports.
            let _ = to_writer.send(batch);
        }
    }

    /// Writes everything out and syncs it to disk.
    pub(crate) async fn finish(&mut self) -> Result<(), SetupError> {
        self.hand_over();
        self.to_writer = None;
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        writer
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
            .map_err(|e| write_error(&self.path, e))
    }
}

fn write_error(path: &Path, e: std::io::Error) -> SetupError {
    SetupError::new(
        SetupErrorKind::Settings,
        format!("cannot write the delivery record {}: {e}", path.display()),
    )
    .with_source(e)
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
    }

    #[tokio::test]
    async fn the_file_has_the_header_and_every_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("record.txt");
        let mut log = DeliveryLog::create(&path).await.unwrap();
        log.delivery(1, &[2, 2], 4, "a");
        for port in 0..5000 {
            log.delivery(port, &[10, 20], 30, "many");
        }
        log.finish().await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(HEADER), "{text}");
        assert!(text.contains("\n1 2,2 4 a\n"));
        assert_eq!(text.lines().count(), 1 + 1 + 5000);
        assert!(text.ends_with("\n4999 10,20 30 many\n"));
    }

    #[tokio::test]
    async fn an_unwritable_path_is_a_setup_error_naming_it() {
        let err = match DeliveryLog::create(Path::new("/nonexistent-dir/record.txt")).await {
            Err(e) => e,
            Ok(_) => panic!("created"),
        };
        assert!(
            err.to_string().contains("/nonexistent-dir/record.txt"),
            "{err}"
        );
    }
}
