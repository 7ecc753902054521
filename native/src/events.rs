//! The client's event streams. Each stream has a queue of its own that
//! holds what it has not read, up to [`EVENT_BUFFER`](crate::EVENT_BUFFER):
//! an idle client holds no event and allocates nothing for them (a
//! broadcast channel allocated and initialized its 256 slots, about 35 KiB,
//! per client).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Notify;

use crate::{NativeEvent, EVENT_BUFFER};

#[derive(Debug, Default)]
struct Queue {
    items: Mutex<VecDeque<NativeEvent>>,
    missed: AtomicU64,
    closed: AtomicBool,
    /// One permit per push (or close): a reader that was not waiting yet
    /// finds it.
    ready: Notify,
}

/// Where the driver sends events: every live stream gets each one.
#[derive(Debug, Default)]
pub(crate) struct EventHub {
    streams: Mutex<Vec<Weak<Queue>>>,
}

impl EventHub {
    /// A stream that sees every event from now on.
    pub(crate) fn subscribe(&self) -> EventStream {
        let queue = Arc::new(Queue::default());
        if let Ok(mut streams) = self.streams.lock() {
            streams.push(Arc::downgrade(&queue));
        }
        EventStream { queue }
    }

    /// True while some stream exists (no event is built otherwise).
    pub(crate) fn has_streams(&self) -> bool {
        self.streams
            .lock()
            .map(|s| s.iter().any(|q| q.strong_count() > 0))
            .unwrap_or(false)
    }

    /// Queue `event` for every live stream (the oldest goes when one is full).
    pub(crate) fn send(&self, event: NativeEvent) {
        let Ok(mut streams) = self.streams.lock() else {
            return;
        };
        streams.retain(|q| q.strong_count() > 0);
        for queue in streams.iter().filter_map(Weak::upgrade) {
            if let Ok(mut items) = queue.items.lock() {
                if items.len() >= EVENT_BUFFER {
                    items.pop_front();
                    queue.missed.fetch_add(1, Ordering::Relaxed);
                }
                items.push_back(event.clone());
            }
            queue.ready.notify_one();
        }
    }

    /// The client is gone: every stream ends after what it holds.
    pub(crate) fn close(&self) {
        if let Ok(streams) = self.streams.lock() {
            for queue in streams.iter().filter_map(Weak::upgrade) {
                queue.closed.store(true, Ordering::Release);
                queue.ready.notify_one();
            }
        }
    }
}

/// The client's [`NativeEvent`]s from the moment it was made, in order.
/// Each stream sees every event; one that falls
/// [`EVENT_BUFFER`](crate::EVENT_BUFFER) events behind loses the oldest
/// (counted in [`EventStream::missed`]).
#[derive(Debug)]
pub struct EventStream {
    queue: Arc<Queue>,
}

impl EventStream {
    /// The next event; `None` once the client is dropped.
    ///
    /// ```no_run
    /// # async fn demo(client: midge_native::NativeClient) {
    /// use midge_native::NativeEvent;
    /// let mut events = client.events();
    /// while let Some(event) = events.recv().await {
    ///     if let NativeEvent::SubscriptionsRestored { results } = event {
    ///         println!("re-subscribed: {results:?}");
    ///     }
    /// }
    /// # }
    /// ```
    pub async fn recv(&mut self) -> Option<NativeEvent> {
        loop {
            if let Some(event) = self.try_recv() {
                return Some(event);
            }
            if self.queue.closed.load(Ordering::Acquire) {
                // A last push may have raced with the close.
                return self.try_recv();
            }
            self.queue.ready.notified().await;
        }
    }

    /// An event if one is waiting.
    pub fn try_recv(&mut self) -> Option<NativeEvent> {
        self.queue.items.lock().ok()?.pop_front()
    }

    /// How many events this stream lost because it fell behind.
    pub fn missed(&self) -> u64 {
        self.queue.missed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NativeError;

    fn event(n: u64) -> NativeEvent {
        NativeEvent::StoreFailed {
            error: NativeError::Store {
                message: n.to_string(),
            },
        }
    }

    #[tokio::test]
    async fn every_stream_sees_every_event_and_a_slow_one_loses_the_oldest() {
        let hub = EventHub::default();
        assert!(!hub.has_streams());
        let mut a = hub.subscribe();
        let mut b = hub.subscribe();
        for n in 0..(EVENT_BUFFER as u64 + 3) {
            hub.send(event(n));
            assert_eq!(a.recv().await, Some(event(n)));
        }
        assert_eq!(b.missed(), 3);
        assert_eq!(b.recv().await, Some(event(3)));
        drop(b);
        hub.send(event(99));
        assert_eq!(
            hub.streams.lock().unwrap().len(),
            1,
            "a dropped stream is pruned"
        );
        hub.send(event(100));
        hub.close();
        assert_eq!(a.recv().await, Some(event(99)));
        assert_eq!(a.recv().await, Some(event(100)));
        assert_eq!(a.recv().await, None);
    }

    #[tokio::test]
    async fn a_waiting_reader_wakes_on_send() {
        let hub = Arc::new(EventHub::default());
        let mut stream = hub.subscribe();
        let reader = tokio::spawn(async move { stream.recv().await });
        tokio::task::yield_now().await;
        hub.send(event(1));
        assert_eq!(reader.await.unwrap(), Some(event(1)));
    }
}
