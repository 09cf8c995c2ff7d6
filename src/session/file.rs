//! [`FileStore`]: a session kept in a file between runs of a program, and shared by the
//! processes that use it under a file lock.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fs4::{FileExt, TryLockError};

use super::store::{SessionStore, StoreError, Stored};
use crate::config::DEFAULT_TIMEOUT;
use crate::refresh::BoxFuture;

/// How often a lock held by another process is tried again. Short next to a refresh (which is
/// what the lock is held for), long enough not to spin.
const LOCK_POLL: Duration = Duration::from_millis(10);

/// The largest file read as a session. A session is a few kilobytes; anything much larger is not
/// one, and is refused before it is read into memory.
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// A [`SessionStore`] in a file: a signed-in program (a CLI, a desktop agent) resumes its session
/// on its next run instead of signing in again, and the processes that share the file refresh it
/// once between them.
///
/// - The file holds one [`Stored`] session as JSON, readable by its owner alone (mode `0600` on
///   Unix; its directory, when created, `0700`). It is **replaced atomically**: a new session is
///   written to a temporary file beside it, flushed to disk, and renamed over it, so that a crash
///   or a reader at the wrong moment finds the old session or the new one, never half of one.
///   Saving no session removes the file; a missing file is no session.
/// - [`lock`](SessionStore::lock) takes an exclusive lock on `<path>.lock` (created beside the
///   file, `0600`, and left there: removing it would let two processes lock two different
///   files of one name). A process that finds it held waits up to [`DEFAULT_TIMEOUT`] (see
///   [`lock_timeout`](Self::lock_timeout)), then fails with an error rather than hanging
///   behind a process that is stuck.
/// - Every file operation runs on Tokio's blocking threads, so that a slow disk never stalls
///   the runtime's workers (all but the lock's release, one system call that never waits).
///   Errors name the path, never the file's contents: no token ends up in an error or a log,
///   also when the file is not a session at all.
///
/// Anyone who can read the file holds the session, as with a browser's cookies: keep it in the
/// user's own directory. `Debug` shows the path only.
///
/// ```no_run
/// use stlock::session::{AppEndpoints, FileStore, Session};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let app = AppEndpoints::new("https://app.example.com/")?;
/// let store = FileStore::new("/home/alice/.config/my-tool/session.json");
/// // The session of an earlier run, else a new one (saved in the file as it signs in).
/// let session = match Session::builder(app.clone()).store(store.clone()).load().await? {
///     Some(session) => session,
///     None => {
///         Session::builder(app)
///             .store(store)
///             .sign_in("alice", "change-me")
///             .await?
///     }
/// };
/// let token = session.access_token().await?; // a refreshed pair is saved in the file too
/// # drop(token); Ok(()) }
/// ```
#[derive(Clone)]
pub struct FileStore {
    // Shared with the blocking tasks that do the work, which must own what they use.
    paths: Arc<Paths>,
    lock_timeout: Duration,
}

/// The file, its lock file and its directory.
struct Paths {
    file: PathBuf,
    lock: PathBuf,
    dir: PathBuf,
}

impl FileStore {
    /// The session kept in the file at `path`. Nothing is read or created until the store is
    /// used: a missing file, or a missing directory, is no session yet.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let file = path.into();
        let mut lock = file.clone().into_os_string();
        lock.push(".lock");
        // A bare file name is in the current directory, whose parent is "".
        let dir = match file.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Self {
            paths: Arc::new(Paths {
                file,
                lock: lock.into(),
                dir,
            }),
            lock_timeout: DEFAULT_TIMEOUT,
        }
    }

    /// How long [`lock`](SessionStore::lock) waits for another process to release the lock
    /// before it fails (default [`DEFAULT_TIMEOUT`]).
    #[must_use]
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// The session file's path.
    pub fn path(&self) -> &Path {
        &self.paths.file
    }
}

impl fmt::Debug for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStore")
            .field("path", &self.paths.file)
            .finish()
    }
}

impl SessionStore for FileStore {
    fn load(&self) -> BoxFuture<'_, Result<Option<Stored>, StoreError>> {
        let paths = Arc::clone(&self.paths);
        Box::pin(blocking(move || read(&paths)))
    }

    fn save<'a>(&'a self, stored: Option<&'a Stored>) -> BoxFuture<'a, Result<(), StoreError>> {
        let paths = Arc::clone(&self.paths);
        Box::pin(async move {
            match stored {
                Some(stored) => {
                    // Encoding is quick and needs no disk: done here, so that the blocking task
                    // owns bytes rather than a copy of the session.
                    let json = serde_json::to_vec(stored).map_err(|_| {
                        StoreError::new("the session could not be saved", Unencodable)
                    })?;
                    blocking(move || write(&paths, &json)).await
                }
                None => blocking(move || remove(&paths)).await,
            }
        })
    }

    fn lock(&self) -> BoxFuture<'_, Result<Box<dyn Send>, StoreError>> {
        let paths = Arc::clone(&self.paths);
        let timeout = self.lock_timeout;
        Box::pin(async move {
            // Should the caller give up meanwhile, the task's lock is dropped with its output.
            let file = blocking(move || lock(&paths, timeout)).await?;
            Ok(Box::new(FileLock(file)) as Box<dyn Send>)
        })
    }
}

/// Runs `work` on Tokio's blocking threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| StoreError::new("the session file's task did not finish", error))?
}

/// The session in the file, if there is one.
fn read(paths: &Paths) -> Result<Option<Stored>, StoreError> {
    let failed = |source| StoreError::new("the session file could not be read", at(paths, source));
    let file = match File::open(&paths.file) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(failed(error)),
    };
    let mut json = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(failed)?;
    if json.len() as u64 > MAX_FILE_BYTES {
        return Err(StoreError::new(
            "the session file holds no session",
            TooLarge {
                path: paths.file.clone(),
            },
        ));
    }
    // serde_json's messages quote what they found ("invalid type: string \"…\""), which may be
    // a token: only where and what kind of error it is are kept.
    serde_json::from_slice(&json).map(Some).map_err(|error| {
        StoreError::new(
            "the session file holds no session",
            Unparsable {
                path: paths.file.clone(),
                kind: match error.classify() {
                    serde_json::error::Category::Io => "unreadable",
                    serde_json::error::Category::Syntax => "not JSON",
                    serde_json::error::Category::Data => "JSON of another shape",
                    serde_json::error::Category::Eof => "cut short",
                },
                line: error.line(),
                column: error.column(),
            },
        )
    })
}

/// Replaces the file with `json`: written to a temporary file in the same directory (a rename
/// is atomic within one file system only), flushed, then renamed over it.
fn write(paths: &Paths, json: &[u8]) -> Result<(), StoreError> {
    let failed = |source| StoreError::new("the session file could not be written", source);
    create_dir(paths)?;
    let (temporary, mut file) = create_temporary(paths).map_err(failed)?;
    let written = file
        .write_all(json)
        // On disk before it takes the file's name: a crash after the rename must not leave an
        // empty file where the session was.
        .and_then(|()| file.sync_all())
        .map_err(|error| at_path(&temporary, error))
        .and_then(|()| {
            drop(file);
            fs::rename(&temporary, &paths.file).map_err(|error| at(paths, error))
        });
    if let Err(error) = written {
        // Best effort: the file may never have been written; what matters is the error.
        let _ = fs::remove_file(&temporary);
        return Err(failed(error));
    }
    sync_dir(&paths.dir);
    Ok(())
}

/// A new file, beside the session file, that no one else has opened, readable by its owner
/// alone from its creation (not made so afterwards, which would leave a moment open).
fn create_temporary(paths: &Paths) -> Result<(PathBuf, File), AtPath> {
    let name = paths.file.file_name().ok_or_else(|| {
        at(
            paths,
            io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"),
        )
    })?;
    // A random name, tried again should it be taken (by a file a crashed process left).
    let mut last = None;
    for _ in 0..8 {
        let mut temporary = std::ffi::OsString::from(".");
        temporary.push(name);
        temporary.push(format!(".{:016x}.tmp", crate::session::random_u64()));
        let temporary = paths.dir.join(temporary);
        match private_file().create_new(true).open(&temporary) {
            Ok(file) => return Ok((temporary, file)),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => last = Some(error),
            Err(error) => return Err(at_path(&temporary, error)),
        }
    }
    let error = last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists));
    Err(at(paths, error))
}

/// Removes the file; a file already gone is no error.
fn remove(paths: &Paths) -> Result<(), StoreError> {
    match fs::remove_file(&paths.file) {
        Ok(()) => {
            sync_dir(&paths.dir);
            Ok(())
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(StoreError::new(
            "the session file could not be removed",
            at(paths, error),
        )),
    }
}

/// The lock file, locked exclusively: tried every [`LOCK_POLL`] until `timeout` has passed
/// (fs4's blocking lock would wait forever behind a process that is stuck).
fn lock(paths: &Paths, timeout: Duration) -> Result<File, StoreError> {
    let failed = |source| StoreError::new("the session file could not be locked", source);
    create_dir(paths)?;
    let file = private_file()
        .create(true)
        // The lock file's contents are nothing; it is never truncated, never removed.
        .truncate(false)
        .open(&paths.lock)
        .map_err(|error| failed(at_path(&paths.lock, error)))?;
    let deadline = Instant::now() + timeout;
    loop {
        // `FileExt::` spelled out: the standard library's `File::try_lock` (Rust 1.89) would be
        // picked otherwise, newer than the crate's rust-version.
        match FileExt::try_lock(&file) {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(error)) => return Err(failed(at_path(&paths.lock, error))),
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(StoreError::new(
                "the session file could not be locked",
                Held {
                    path: paths.lock.clone(),
                    waited: timeout,
                },
            ));
        }
        std::thread::sleep(LOCK_POLL.min(deadline - now));
    }
}

/// The lock of [`FileStore::lock`], released when dropped.
struct FileLock(File);

impl Drop for FileLock {
    fn drop(&mut self) {
        // Closing the file releases the lock too; on Windows only "when the system gets to it",
        // so it is released here at once. An error leaves the close to release it.
        let _ = FileExt::unlock(&self.0);
    }
}

/// Creates the file's directory if it is missing, readable by its owner alone.
fn create_dir(paths: &Paths) -> Result<(), StoreError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(&paths.dir).map_err(|error| {
        StoreError::new(
            "the session file's directory could not be created",
            at_path(&paths.dir, error),
        )
    })
}

/// Options to write a file readable by its owner alone (on Unix; elsewhere the directory's
/// permissions apply).
fn private_file() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Flushes the directory, so that a rename or removal survives a crash. Where a directory
/// cannot be opened as a file (Windows), or the file system does not support it, the rename
/// stands without it: best effort.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

fn at(paths: &Paths, source: io::Error) -> AtPath {
    at_path(&paths.file, source)
}

fn at_path(path: &Path, source: io::Error) -> AtPath {
    AtPath {
        path: path.to_path_buf(),
        source,
    }
}

/// An I/O error, and the path it concerns.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
struct AtPath {
    path: PathBuf,
    #[source]
    source: io::Error,
}

/// A file that is not a session; what it holds is not part of the error.
#[derive(Debug, thiserror::Error)]
#[error("{} is {kind} (at line {line}, column {column}; its contents are not shown)", path.display())]
struct Unparsable {
    path: PathBuf,
    kind: &'static str,
    line: usize,
    column: usize,
}

/// A file too large to be a session.
#[derive(Debug, thiserror::Error)]
#[error("{} is larger than a session ({MAX_FILE_BYTES} bytes at most)", path.display())]
struct TooLarge {
    path: PathBuf,
}

/// The lock file still locked by another process at the deadline.
#[derive(Debug, thiserror::Error)]
#[error("{} was still locked by another process after {waited:?}", path.display())]
struct Held {
    path: PathBuf,
    waited: Duration,
}

/// serde_json failed to encode a session (it cannot, short of a time before 1970).
#[derive(Debug, thiserror::Error)]
#[error("it could not be encoded as JSON")]
struct Unencodable;

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::*;
    use crate::token::TokenPair;

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn stored(n: u32) -> Stored {
        Stored {
            pair: TokenPair {
                access_token: format!("access-token-{n}"),
                refresh_token: format!("refresh-token-{n}"),
            },
            received: UNIX_EPOCH + Duration::from_secs(1_700_000_000 + u64::from(n)),
        }
    }

    #[tokio::test]
    async fn a_saved_session_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("session.json"));
        store.save(Some(&stored(1))).await.unwrap();
        assert_eq!(store.load().await.unwrap(), Some(stored(1)));
        // Another store of the same file (the next run of the program) reads it too.
        let next_run = FileStore::new(dir.path().join("session.json"));
        assert_eq!(next_run.load().await.unwrap(), Some(stored(1)));
        store.save(Some(&stored(2))).await.unwrap();
        assert_eq!(next_run.load().await.unwrap(), Some(stored(2)));

        // The time received to the nanosecond: the schedule is counted from it.
        let now = Stored {
            received: SystemTime::now(),
            ..stored(3)
        };
        store.save(Some(&now)).await.unwrap();
        assert_eq!(store.load().await.unwrap(), Some(now));
    }

    #[tokio::test]
    async fn a_missing_file_or_directory_is_no_session() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("session.json"));
        assert_eq!(store.load().await.unwrap(), None);
        let store = FileStore::new(dir.path().join("not/yet/session.json"));
        assert_eq!(store.load().await.unwrap(), None);
        assert_eq!(
            names(dir.path()),
            Vec::<String>::new(),
            "loading creates nothing"
        );
    }

    #[tokio::test]
    async fn saving_no_session_removes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("session.json"));
        store.save(Some(&stored(1))).await.unwrap();
        store.save(None).await.unwrap();
        assert_eq!(store.load().await.unwrap(), None);
        assert_eq!(names(dir.path()), Vec::<String>::new());
        // Already gone: no error.
        store.save(None).await.unwrap();
    }

    #[tokio::test]
    async fn the_directory_is_created_when_missing() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("config/my-tool/session.json"));
        store.save(Some(&stored(1))).await.unwrap();
        assert_eq!(store.load().await.unwrap(), Some(stored(1)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for created in ["config", "config/my-tool"] {
                let mode = fs::metadata(dir.path().join(created))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o700, "{created}: {mode:o}");
            }
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_file_and_the_lock_file_are_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("session.json");
        // A file left readable by all: replaced by one that is not.
        fs::write(&path, b"{}").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let store = FileStore::new(&path);
        store.save(Some(&stored(1))).await.unwrap();
        let guard = store.lock().await.unwrap();
        for name in ["session.json", "session.json.lock"] {
            let mode = fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}: {mode:o}");
        }
        drop(guard);
    }

    #[tokio::test]
    async fn a_save_replaces_the_file_whole_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("session.json");
        let store = FileStore::new(&path);
        store.save(Some(&stored(0))).await.unwrap();

        // Saves and loads at once: each load finds one whole session, never a file being
        // written (which would not parse) nor no file at all.
        let saving: Vec<_> = (1..=30)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move { store.save(Some(&stored(n))).await })
            })
            .collect();
        let loading: Vec<_> = (0..60)
            .map(|_| {
                let store = FileStore::new(&path);
                tokio::spawn(async move { store.load().await })
            })
            .collect();
        for task in saving {
            task.await.unwrap().unwrap();
        }
        let all: Vec<Stored> = (0..=30).map(stored).collect();
        for task in loading {
            let loaded = task.await.unwrap().unwrap().expect("a session");
            assert!(all.contains(&loaded), "{loaded:?}");
        }
        assert!(all.contains(&store.load().await.unwrap().unwrap()));
        assert_eq!(
            names(dir.path()),
            ["session.json"],
            "no temporary file left"
        );
    }

    #[tokio::test]
    async fn a_file_that_is_no_session_is_an_error_that_quotes_nothing_of_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("session.json");
        let store = FileStore::new(&path);
        // serde_json's own message for these would quote the string it found.
        let secrets = [
            "eyJ-ACCESS-SECRET",
            "eyJ-REFRESH-SECRET",
            "eyJ-RECEIVED-SECRET",
        ];
        let files = [
            // Of another shape.
            format!(
                r#"{{"pair":{{"access_token":"{}","refresh_token":"{}"}},"received":"{}"}}"#,
                secrets[0], secrets[1], secrets[2]
            ),
            // Cut short, as a file written in place and interrupted would be.
            format!(r#"{{"pair":{{"access_token":"{}","refresh_"#, secrets[0]),
            // Not JSON.
            format!("access_token={}\n", secrets[0]),
            // An unknown field's name is quoted too.
            format!(r#"{{"{}":1}}"#, secrets[1]),
        ];
        for contents in files {
            fs::write(&path, &contents).unwrap();
            let error = store.load().await.unwrap_err();
            let mut shown = format!("{error} {error:?}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                shown.push_str(&format!(" {cause} {cause:?}"));
                source = cause.source();
            }
            assert!(shown.contains("holds no session"), "{shown}");
            assert!(shown.contains("session.json"), "{shown}");
            for secret in secrets {
                assert!(!shown.contains(secret), "{shown}");
            }
        }

        // Nor a file too large to be a session.
        fs::write(&path, vec![b' '; 100 * 1024]).unwrap();
        let error = store.load().await.unwrap_err();
        assert!(
            error.to_string().contains("larger than a session"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn the_lock_excludes_other_stores_of_the_file_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("session.json");
        let first = FileStore::new(&path);
        // Another store of the same file, as another process would have: another open file.
        let second = FileStore::new(&path).lock_timeout(Duration::from_millis(100));

        let guard = first.lock().await.unwrap();
        let started = Instant::now();
        let error = second.lock().await.err().expect("locked by the first");
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert!(
            error
                .to_string()
                .contains("still locked by another process"),
            "{error}"
        );

        // A store waiting for it gets it once it is released.
        let waiting = tokio::spawn({
            let second = second.clone().lock_timeout(Duration::from_secs(10));
            async move { second.lock().await.map(drop) }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "still waiting");
        drop(guard);
        waiting.await.unwrap().unwrap();
        drop(second.lock().await.unwrap());
        assert_eq!(
            names(dir.path()),
            ["session.json.lock"],
            "the lock file stays"
        );
    }

    #[test]
    fn debug_shows_the_path_only() {
        let store = FileStore::new("/home/alice/.config/my-tool/session.json");
        assert_eq!(
            format!("{store:?}"),
            r#"FileStore { path: "/home/alice/.config/my-tool/session.json" }"#
        );
        assert_eq!(
            store.path(),
            Path::new("/home/alice/.config/my-tool/session.json")
        );
        assert_eq!(FileStore::new("session.json").paths.dir, Path::new("."));
    }
}
