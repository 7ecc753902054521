//! The session store behind the IndexedDB option: it keeps the session in
//! memory and raises a flag on every change, so that the driver hands a
//! snapshot (`SessionState::to_bytes`) to JS before the bytes that depend on
//! the change are written to the socket. The JS side writes the snapshot to
//! IndexedDB.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use midge_core::session::{SessionChange, SessionState, SessionStore, StoreError};

/// "The session changed since the last snapshot."
#[derive(Clone, Default)]
pub struct Dirty(Arc<AtomicBool>);

impl Dirty {
    /// True once per batch of changes.
    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::Relaxed)
    }
}

/// A [`SessionStore`] that loads a given snapshot and flags changes.
pub struct FlagStore {
    initial: Option<SessionState>,
    dirty: Dirty,
}

impl FlagStore {
    pub fn new(initial: SessionState) -> (FlagStore, Dirty) {
        let dirty = Dirty::default();
        let store = FlagStore {
            initial: Some(initial),
            dirty: dirty.clone(),
        };
        (store, dirty)
    }
}

impl SessionStore for FlagStore {
    fn load(&mut self) -> Result<SessionState, StoreError> {
        Ok(self.initial.take().unwrap_or_default())
    }

    fn apply(&mut self, _change: SessionChange<'_>) -> Result<(), StoreError> {
        // The client's own state already has the change; a snapshot of it is
        // taken before the next write to the socket.
        self.dirty.0.store(true, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_each_batch_once() {
        let (mut store, dirty) = FlagStore::new(SessionState::default());
        assert!(!dirty.take());
        store.apply(SessionChange::InboundQos2Added(3)).unwrap();
        store.apply(SessionChange::InboundQos2Added(4)).unwrap();
        assert!(dirty.take());
        assert!(!dirty.take());
    }
}
