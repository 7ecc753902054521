//! A [`SessionStore`] that keeps the session in a file, so that QoS 1/2 state
//! survives a process restart (or a `kill -9`).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use midge_core::session::{SessionChange, SessionState, SessionStore, StoreError};

/// Persists the session to one file. Every change rewrites the snapshot
/// atomically (temp file, fsync, rename), so the file always holds a complete
/// session: the old one or the new one, never half of each.
///
/// ```
/// use midge_core::session::{SessionChange, SessionStore};
/// use midge_native::FileStore;
///
/// let dir = std::env::temp_dir().join(format!("midge-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("session.bin");
/// let mut store = FileStore::new(&path);
/// store.load().unwrap();
/// store.apply(SessionChange::InboundQos2Added(7)).unwrap();
/// // A new store on the same path (e.g. after a restart) sees the change.
/// assert!(FileStore::new(&path).load().unwrap().inbound_qos2.contains(&7));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    temp: PathBuf,
    state: SessionState,
}

impl FileStore {
    /// A store at `path`; nothing is read until [`SessionStore::load`].
    pub fn new(path: impl AsRef<Path>) -> FileStore {
        let path = path.as_ref().to_path_buf();
        let mut temp = path.clone().into_os_string();
        temp.push(".tmp");
        FileStore {
            path,
            temp: PathBuf::from(temp),
            state: SessionState::default(),
        }
    }

    /// The file the session lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&self) -> Result<(), StoreError> {
        let io = |e: std::io::Error| StoreError::Io {
            message: format!("{}: {e}", self.path.display()),
        };
        let bytes = self.state.to_bytes();
        let mut file = File::create(&self.temp).map_err(io)?;
        file.write_all(&bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        fs::rename(&self.temp, &self.path).map_err(io)?;
        // The rename itself is durable only once the directory is synced.
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl SessionStore for FileStore {
    fn load(&mut self) -> Result<SessionState, StoreError> {
        self.state = match fs::read(&self.path) {
            Ok(bytes) => SessionState::from_bytes(&bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => SessionState::default(),
            Err(e) => {
                return Err(StoreError::Io {
                    message: format!("{}: {e}", self.path.display()),
                })
            }
        };
        Ok(self.state.clone())
    }

    fn apply(&mut self, change: SessionChange<'_>) -> Result<(), StoreError> {
        self.state.apply(change);
        self.write()
    }
}
