//! The blobs: real client-to-server traffic, loaded once and shared by every connection.
//!
//! Blobs are sorted by name so that a run's order, and so its seed, mean the same thing on
//! every machine. Their bytes live in one `Arc` each: a thousand connections sending the
//! same blob share one copy.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod conversation;
mod wait_line;

pub use conversation::{RecordedAnswer, WaitFor, WaitPoint};
pub(crate) use conversation::{
    can_wait_at, heard as recorded_answers, tls_at, write as write_conversation,
};
pub use wait_line::Http2Frame;

/// How a conversation file writes `until`, for messages: `#~ wait frame=HEADERS`.
pub(crate) fn spelled(until: &WaitFor) -> String {
    wait_line::write(until).trim_end().to_owned()
}

use crate::error::{SetupError, SetupErrorKind};

/// One input: bytes a client sends to the server, with the name it is known by.
#[derive(Clone, Debug)]
pub struct Blob {
    name: String,
    path: Option<PathBuf>,
    bytes: Arc<[u8]>,
    /// For a conversation: where it waits for the server, and what for.
    waits: Arc<[WaitPoint]>,
}

impl Blob {
    /// A blob made in code.
    pub fn new(name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        Blob {
            name: name.into(),
            path: None,
            bytes: Arc::from(bytes.into()),
            waits: Arc::from([]),
        }
    }

    /// A conversation made in code: these bytes, waiting for the server as `waits` say.
    pub fn conversation(
        name: impl Into<String>,
        bytes: impl Into<Vec<u8>>,
        waits: impl Into<Vec<WaitPoint>>,
    ) -> Self {
        let mut blob = Blob::new(name, bytes);
        let mut waits: Vec<WaitPoint> = waits.into();
        waits.retain(|w| w.at <= blob.bytes.len());
        waits.sort_by_key(|w| w.at);
        blob.waits = Arc::from(waits);
        blob
    }

    /// The same bytes under the same name, waiting as `waits` say (a recorded case's own).
    pub(crate) fn with_waits(&self, waits: &[WaitPoint]) -> Blob {
        let mut blob = Blob::conversation(self.name.clone(), self.bytes.to_vec(), waits);
        blob.path = self.path.clone();
        blob
    }

    /// Where a conversation waits for the server (none for a plain blob).
    pub fn waits(&self) -> &[WaitPoint] {
        &self.waits
    }

    pub(crate) fn shared_waits(&self) -> Arc<[WaitPoint]> {
        Arc::clone(&self.waits)
    }

    /// Its name: the file name for blobs loaded from a directory.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file it was loaded from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Its bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True for a 0-byte blob (a connection that opens and closes).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub(crate) fn shared_bytes(&self) -> Arc<[u8]> {
        Arc::clone(&self.bytes)
    }

    /// Where the blob came from, for reports: its path, or its name for a blob made in code.
    pub(crate) fn origin(&self) -> String {
        match &self.path {
            Some(p) => p.display().to_string(),
            None => format!("{} (given in code)", self.name),
        }
    }
}

impl AsRef<[u8]> for Blob {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

/// All blobs of a run, sorted by name, names unique.
#[derive(Clone, Debug, Default)]
pub(crate) struct Corpus {
    blobs: Vec<Blob>,
}

impl Corpus {
    /// Loads the directories (regular files whose names do not start with `.`) and adds
    /// the blobs given in code.
    pub(crate) fn load(dirs: &[PathBuf], inline: &[Blob]) -> Result<Self, SetupError> {
        let mut blobs = Vec::new();
        for dir in dirs {
            blobs.extend(load_dir(dir)?);
        }
        blobs.extend(inline.iter().cloned());
        if blobs.is_empty() {
            return Err(blob_error(
                "no blobs to send: give .blobs(DIR) or .blob(name, bytes)",
            ));
        }
        blobs.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(pair) = blobs.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(blob_error(format!(
                "two blobs are named {:?} ({} and {}): names must be unique, so rename one",
                pair[0].name,
                pair[0].origin(),
                pair[1].origin()
            )));
        }
        Ok(Corpus { blobs })
    }

    /// A corpus of these blobs (sorted by name).
    pub(crate) fn from_blobs(mut blobs: Vec<Blob>) -> Self {
        blobs.sort_by(|a, b| a.name.cmp(&b.name));
        Corpus { blobs }
    }

    pub(crate) fn blobs(&self) -> &[Blob] {
        &self.blobs
    }

    /// The first blob that starts TLS mid-conversation (`#~ tls`), if one does: then TLS
    /// starts only at such marks.
    pub(crate) fn marking_tls(&self) -> Option<&Blob> {
        self.blobs().iter().find(|b| tls_at(b.waits()).is_some())
    }

    pub(crate) fn find(&self, name: &str) -> Option<&Blob> {
        self.blobs
            .binary_search_by(|b| b.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.blobs[i])
    }

    /// How many blobs and how large.
    pub(crate) fn summary(&self) -> BlobSummary {
        let sizes = self.blobs.iter().map(Blob::len);
        let count = self.blobs.len();
        BlobSummary {
            count,
            min: sizes.clone().min().unwrap_or(0),
            mean: sizes.clone().sum::<usize>().checked_div(count).unwrap_or(0),
            max: sizes.max().unwrap_or(0),
        }
    }
}

/// How many blobs a run sends and how large they are.
///
/// Displays as the original tool's start-up line:
/// `Loaded 5 blobs. Bytes: 6 min, 227 mean, 929 max` (the mean rounded down).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BlobSummary {
    /// Number of blobs.
    pub count: usize,
    /// Smallest blob, in bytes.
    pub min: usize,
    /// Mean size in bytes, rounded down.
    pub mean: usize,
    /// Largest blob, in bytes.
    pub max: usize,
}

impl std::fmt::Display for BlobSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Loaded {} blobs. Bytes: {} min, {} mean, {} max",
            self.count, self.min, self.mean, self.max
        )
    }
}

fn blob_error(message: impl Into<String>) -> SetupError {
    SetupError::new(SetupErrorKind::Blobs, message)
}

fn load_dir(dir: &Path) -> Result<Vec<Blob>, SetupError> {
    let shown = dir.display();
    let meta = fs::metadata(dir).map_err(|e| {
        let what = if e.kind() == std::io::ErrorKind::NotFound {
            format!("blob directory {shown} does not exist: create it and put at least one input file in it")
        } else {
            format!("cannot read blob directory {shown}: {e}")
        };
        blob_error(what).with_source(e)
    })?;
    if !meta.is_dir() {
        return Err(blob_error(format!(
            "{shown} is not a directory: .blobs() and --blob-dir take a directory of input files"
        )));
    }
    let entries = fs::read_dir(dir).map_err(|e| {
        blob_error(format!("cannot list blob directory {shown}: {e}")).with_source(e)
    })?;
    let mut blobs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| {
            blob_error(format!("cannot list blob directory {shown}: {e}")).with_source(e)
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Follows symbolic links: a link to a file is a blob; a broken link or a loop is an
        // error naming the link.
        let meta = fs::metadata(&path).map_err(|e| {
            blob_error(format!(
                "cannot use {}: {e}; fix or remove it (names starting with '.' are skipped)",
                path.display()
            ))
            .with_source(e)
        })?;
        if meta.is_dir() {
            return Err(blob_error(format!(
                "blob directory {shown} holds a sub-directory, {}: blobs are files, so move it out \
                 (or rename it to start with '.' to have it skipped)",
                path.display()
            )));
        }
        if !meta.is_file() {
            return Err(blob_error(format!(
                "{} is not a regular file: blobs are files of client traffic; remove it",
                path.display()
            )));
        }
        let bytes = fs::read(&path).map_err(|e| {
            blob_error(format!(
                "cannot read blob {}: {e}; fix its permissions or remove it",
                path.display()
            ))
            .with_source(e)
        })?;
        let blob = match conversation::parse(&bytes) {
            None => Blob::new(name, bytes),
            Some(Ok((bytes, waits))) => Blob::conversation(name, bytes, waits),
            Some(Err(why)) => {
                return Err(blob_error(format!(
                    "conversation {} does not parse: {why}",
                    path.display()
                )));
            }
        };
        blobs.push(Blob {
            path: Some(path),
            ..blob
        });
    }
    if blobs.is_empty() {
        return Err(blob_error(format!(
            "blob directory {shown} holds no blobs: add at least one input file (names starting with '.' are skipped)"
        )));
    }
    Ok(blobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in files {
            fs::write(dir.path().join(name), bytes).unwrap();
        }
        dir
    }

    #[test]
    fn loads_regular_files_sorted_and_skips_dot_files() {
        let dir = dir_with(&[
            ("b.txt", b"bb"),
            ("a.txt", b"a"),
            (".hidden", b"x"),
            ("e", b""),
        ]);
        fs::create_dir(dir.path().join(".git")).unwrap();
        let corpus = Corpus::load(&[dir.path().to_owned()], &[]).unwrap();
        let names: Vec<&str> = corpus.blobs().iter().map(Blob::name).collect();
        assert_eq!(names, ["a.txt", "b.txt", "e"]);
        assert_eq!(
            corpus.summary().to_string(),
            "Loaded 3 blobs. Bytes: 0 min, 1 mean, 2 max"
        );
        assert_eq!(corpus.find("b.txt").unwrap().bytes(), b"bb");
        assert!(corpus.find("zz").is_none());
    }

    #[test]
    fn missing_and_empty_directories_are_setup_errors_naming_the_path() {
        let dir = dir_with(&[(".only-hidden", b"x")]);
        let err = Corpus::load(&[dir.path().to_owned()], &[]).unwrap_err();
        assert_eq!(err.kind(), SetupErrorKind::Blobs);
        assert!(err.to_string().contains("holds no blobs"), "{err}");
        assert!(err.to_string().contains(&dir.path().display().to_string()));

        let missing = dir.path().join("nope");
        let err = Corpus::load(std::slice::from_ref(&missing), &[]).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        assert!(err.to_string().contains(&missing.display().to_string()));

        let file = dir.path().join(".only-hidden");
        let err = Corpus::load(&[file], &[]).unwrap_err();
        assert!(err.to_string().contains("is not a directory"), "{err}");
    }

    #[test]
    fn sub_directories_symlink_loops_and_unreadable_files_are_named() {
        let dir = dir_with(&[("a", b"1")]);
        fs::create_dir(dir.path().join("nested")).unwrap();
        let err = Corpus::load(&[dir.path().to_owned()], &[]).unwrap_err();
        assert!(err.to_string().contains("holds a sub-directory"), "{err}");
        assert!(err.to_string().contains("nested"), "{err}");

        let dir = dir_with(&[("a", b"1")]);
        std::os::unix::fs::symlink(dir.path().join("loop"), dir.path().join("loop")).unwrap();
        let err = Corpus::load(&[dir.path().to_owned()], &[]).unwrap_err();
        assert!(err.to_string().contains("cannot use"), "{err}");
        assert!(err.to_string().contains("loop"), "{err}");

        // Unreadable even for root: reading /proc/self/mem from its start fails.
        let dir = dir_with(&[("a", b"1")]);
        std::os::unix::fs::symlink("/proc/self/mem", dir.path().join("mem")).unwrap();
        let err = Corpus::load(&[dir.path().to_owned()], &[]).unwrap_err();
        assert!(err.to_string().contains("cannot read blob"), "{err}");
        assert!(err.to_string().contains("mem"), "{err}");
    }

    #[test]
    fn inline_blobs_join_and_duplicates_are_refused() {
        let dir = dir_with(&[("a", b"1")]);
        let corpus = Corpus::load(&[dir.path().to_owned()], &[Blob::new("b", "2")]).unwrap();
        assert_eq!(corpus.blobs().len(), 2);
        let err = Corpus::load(&[dir.path().to_owned()], &[Blob::new("a", "2")]).unwrap_err();
        assert!(
            err.to_string().contains("two blobs are named \"a\""),
            "{err}"
        );
        assert!(Corpus::load(&[], &[]).is_err());
    }
}
