//! A [`SessionStore`] that keeps the session in an append-only file, so that
//! QoS 1/2 state survives a process restart (or a `kill -9`).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use midge_core::session::log::{append_record, replay, LOG_MAGIC};
use midge_core::session::{SessionChange, SessionState, SessionStore, StoreError};

/// A log smaller than this is never compacted.
const COMPACT_MIN: u64 = 1 << 20;
/// The snapshot format of midge before the log, still read (and then
/// rewritten as a log).
const OLD_SNAPSHOT_MAGIC: &[u8] = b"MIDGESS1";

/// Persists the session as a log of changes (see
/// [`midge_core::session::log`]): each batch is appended and synced once
/// (group commit), so a batch costs one `fdatasync` however many changes it
/// holds. When the log outgrows the live session (1 MiB, and twice the last
/// compaction), it is rewritten as one snapshot record: temp file, fsync,
/// rename, directory fsync, so a crash leaves the old log or the new one.
///
/// Loading replays the log. A torn last record (a crash in the middle of a
/// write) is cut off; a record that fails its checksum with valid records
/// after it is refused with an error naming the file.
///
/// ```
/// use midge_core::session::{SessionChange, SessionStore};
/// use midge_native::FileStore;
///
/// let dir = std::env::temp_dir().join(format!("midge-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("session.log");
/// let mut store = FileStore::new(&path);
/// store.load().unwrap();
/// store.persist(&[SessionChange::InboundQos2Added(7), SessionChange::InboundQos2Added(8)]).unwrap();
/// // A new store on the same path (e.g. after a restart) sees the changes.
/// assert!(FileStore::new(&path).load().unwrap().inbound_qos2.contains(&8));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    temp: PathBuf,
    /// The session as the file holds it.
    state: SessionState,
    /// The log, open for appending (`None` until the first write).
    file: Option<File>,
    /// Bytes in the log.
    len: u64,
    /// The size of the live session as a log (after the last compaction, or
    /// at load): the log is compacted when it grows past twice this.
    compacted_len: u64,
    /// The file is in the old snapshot format: the first write rewrites it.
    rewrite: bool,
    buf: Vec<u8>,
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
            file: None,
            len: 0,
            compacted_len: 0,
            rewrite: false,
            buf: Vec::new(),
        }
    }

    /// The file the session lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The size of the log in bytes.
    pub fn log_len(&self) -> u64 {
        self.len
    }

    fn io(&self, e: std::io::Error) -> StoreError {
        StoreError::Io {
            message: format!("{}: {e}", self.path.display()),
        }
    }

    /// Rewrite the log as one snapshot record, atomically.
    fn compact(&mut self) -> Result<(), StoreError> {
        let mut bytes = LOG_MAGIC.to_vec();
        append_record(
            &mut bytes,
            &SessionChange::Snapshot(Box::new(self.state.clone())),
        );
        let mut file = File::create(&self.temp).map_err(|e| self.io(e))?;
        file.write_all(&bytes).map_err(|e| self.io(e))?;
        file.sync_all().map_err(|e| self.io(e))?;
        drop(file);
        fs::rename(&self.temp, &self.path).map_err(|e| self.io(e))?;
        self.sync_dir();
        self.file = Some(self.open_append()?);
        self.len = bytes.len() as u64;
        self.compacted_len = self.len;
        self.rewrite = false;
        Ok(())
    }

    fn open_append(&self) -> Result<File, StoreError> {
        OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| self.io(e))
    }

    /// A new file's name (or a rename) is durable once its directory is synced.
    fn sync_dir(&self) {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
    }
}

impl SessionStore for FileStore {
    fn load(&mut self) -> Result<SessionState, StoreError> {
        // A compaction cut short by a crash leaves its temp file: garbage.
        let _ = fs::remove_file(&self.temp);
        let mut bytes = Vec::new();
        match File::open(&self.path) {
            Ok(mut f) => f.read_to_end(&mut bytes).map(|_| ()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.state = SessionState::default();
                self.len = 0;
                return Ok(self.state.clone());
            }
            Err(e) => Err(e),
        }
        .map_err(|e| self.io(e))?;
        if bytes.is_empty() {
            self.state = SessionState::default();
            self.len = 0;
            return Ok(self.state.clone());
        }
        let named = |e: StoreError| match e {
            StoreError::Corrupt { reason } => StoreError::Corrupt {
                reason: format!("{}: {reason}", self.path.display()),
            },
            other => other,
        };
        if bytes.starts_with(OLD_SNAPSHOT_MAGIC) {
            self.state = SessionState::from_bytes(&bytes).map_err(named)?;
            self.rewrite = true;
        } else {
            let replayed = replay(&bytes).map_err(named)?;
            if replayed.torn {
                // Cut the torn record off, so that appends follow the last
                // good one.
                let file = OpenOptions::new()
                    .write(true)
                    .open(&self.path)
                    .map_err(|e| self.io(e))?;
                file.set_len(replayed.valid_len as u64)
                    .and_then(|_| file.sync_all())
                    .map_err(|e| self.io(e))?;
            }
            self.state = replayed.state;
            self.len = replayed.valid_len as u64;
            // What a compaction would write now: the log may be much longer.
            self.compacted_len = (LOG_MAGIC.len() + 9 + self.state.to_bytes().len()) as u64;
        }
        Ok(self.state.clone())
    }

    fn persist(&mut self, changes: &[SessionChange]) -> Result<(), StoreError> {
        for change in changes {
            self.state.apply(change);
        }
        if self.file.is_none() {
            if self.rewrite || self.len == 0 {
                // A new log (or one in the old format): written whole.
                return self.compact();
            }
            self.file = Some(self.open_append()?);
        }
        self.buf.clear();
        for change in changes {
            append_record(&mut self.buf, change);
        }
        let file = self.file.as_mut().expect("opened above");
        let written = file.write_all(&self.buf).and_then(|_| file.sync_data());
        if let Err(e) = written {
            // The tail may be torn now: the next write starts a new log.
            self.file = None;
            self.rewrite = true;
            return Err(self.io(e));
        }
        self.len += self.buf.len() as u64;
        if self.len > COMPACT_MIN.max(2 * self.compacted_len) {
            self.compact()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use midge_core::packet::{Publish, QoS};
    use midge_core::session::{OutboundPublish, OutboundStage, PublishToken};

    fn publish_change(token: u64, payload: &[u8]) -> SessionChange {
        SessionChange::OutboundStored(OutboundPublish {
            token: PublishToken(token),
            stage: OutboundStage::AwaitingPubAck,
            publish: Publish::new("t", payload.to_vec(), QoS::AtLeastOnce)
                .with_packet_id((token % 60_000 + 1) as u16),
        })
    }

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn batches_append_and_replay() {
        let d = dir();
        let path = d.path().join("s.log");
        let mut store = FileStore::new(&path);
        store.load().unwrap();
        store
            .persist(&[publish_change(1, b"a"), publish_change(2, b"b")])
            .unwrap();
        let first = store.log_len();
        store
            .persist(&[SessionChange::OutboundRemoved(PublishToken(1))])
            .unwrap();
        assert!(store.log_len() > first, "appended, not rewritten");
        let loaded = FileStore::new(&path).load().unwrap();
        assert_eq!(loaded.outbound.len(), 1);
        assert_eq!(&loaded.outbound[0].publish.payload[..], b"b");
    }

    #[test]
    fn a_torn_tail_is_cut_off_and_appending_goes_on() {
        let d = dir();
        let path = d.path().join("s.log");
        let mut store = FileStore::new(&path);
        store.load().unwrap();
        store.persist(&[publish_change(1, b"kept")]).unwrap();
        store.persist(&[publish_change(2, b"torn")]).unwrap();
        let full = fs::read(&path).unwrap();
        fs::write(&path, &full[..full.len() - 3]).unwrap();
        let mut again = FileStore::new(&path);
        let state = again.load().unwrap();
        assert_eq!(state.outbound.len(), 1);
        again.persist(&[publish_change(3, b"after")]).unwrap();
        let tokens: Vec<u64> = FileStore::new(&path)
            .load()
            .unwrap()
            .outbound
            .iter()
            .map(|e| e.token.0)
            .collect();
        assert_eq!(tokens, [1, 3]);
    }

    #[test]
    fn a_flipped_payload_byte_in_the_middle_is_refused_by_name() {
        let d = dir();
        let path = d.path().join("s.log");
        let mut store = FileStore::new(&path);
        store.load().unwrap();
        store.persist(&[publish_change(1, b"payload-one")]).unwrap();
        store.persist(&[publish_change(2, b"payload-two")]).unwrap();
        let mut bytes = fs::read(&path).unwrap();
        let at = bytes.windows(11).position(|w| w == b"payload-one").unwrap();
        bytes[at] ^= 1;
        fs::write(&path, &bytes).unwrap();
        let err = FileStore::new(&path).load().unwrap_err().to_string();
        assert!(err.contains("checksum") && err.contains("s.log"), "{err}");
    }

    #[test]
    fn the_log_is_compacted_when_it_outgrows_the_session() {
        let d = dir();
        let path = d.path().join("s.log");
        let mut store = FileStore::new(&path);
        store.load().unwrap();
        let payload = vec![7u8; 4096];
        for token in 1..=600u64 {
            store.persist(&[publish_change(token, &payload)]).unwrap();
            store
                .persist(&[SessionChange::OutboundRemoved(PublishToken(token))])
                .unwrap();
        }
        store.persist(&[publish_change(601, b"live")]).unwrap();
        assert!(store.log_len() < COMPACT_MIN, "{}", store.log_len());
        let state = FileStore::new(&path).load().unwrap();
        assert_eq!(state.outbound.len(), 1);
        assert_eq!(state.next_token, 602);
    }

    #[test]
    fn an_old_snapshot_file_is_read_and_rewritten_as_a_log() {
        let d = dir();
        let path = d.path().join("s.bin");
        let mut state = SessionState::default();
        state.apply(&publish_change(5, b"old"));
        fs::write(&path, state.to_bytes()).unwrap();
        let mut store = FileStore::new(&path);
        assert_eq!(store.load().unwrap(), state);
        store
            .persist(&[SessionChange::InboundQos2Added(9)])
            .unwrap();
        assert!(fs::read(&path).unwrap().starts_with(LOG_MAGIC));
        let again = FileStore::new(&path).load().unwrap();
        assert_eq!(again.outbound.len(), 1);
        assert!(again.inbound_qos2.contains(&9));
    }
}
