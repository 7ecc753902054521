//! `midge._native`: the pyo3 layer over `midge-native`. It converts Python
//! values to the core's types and back, and turns the native futures into
//! blocking waits (GIL released) or asyncio awaitables. The public API, with
//! argument defaults and docs, is the pure-Python package `midge`.

mod aio;
mod convert;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::FutureExt;
use midge_core::packet::{AuthProperties, Publish, QoS, ReasonCode, SubscribeFilter};
use midge_core::{AckHandle, Connected, PublishDone};
use midge_native::{
    ConnectionStatus, EventStream, MessageStream, NativeClient as Native, NativeError, NativeEvent,
    RecvStep, SubscribeOutcome, UnsubscribeOutcome,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList};

use convert::*;

/// Raise the `midge` exception that matches a native error.
pub(crate) fn to_py_err(e: NativeError) -> PyErr {
    Python::attach(|py| {
        let (class, reason_code, argument, rule) = match &e {
            NativeError::InvalidArgument { argument, rule } => (
                "InvalidArgumentError",
                None,
                Some(argument.clone()),
                Some(rule.clone()),
            ),
            NativeError::ConnectionRefused { reason_code, .. } => {
                ("ConnectionRefusedError", Some(*reason_code), None, None)
            }
            NativeError::Protocol { reason_code, .. } => {
                ("ProtocolError", *reason_code, None, None)
            }
            NativeError::Transport { .. } => ("TransportError", None, None, None),
            NativeError::Timeout { .. } => ("TimeoutError", None, None, None),
            NativeError::Closed { .. } => ("ClosedError", None, None, None),
            NativeError::Interrupted { reason_code, .. } => {
                ("InterruptedOperationError", *reason_code, None, None)
            }
            NativeError::PublishRejected { reason_code, .. } => {
                ("PublishRejectedError", Some(*reason_code), None, None)
            }
            NativeError::AckNotPending { .. } => ("AckError", None, None, None),
            NativeError::Rejected { .. } | NativeError::Store { .. } => {
                ("MqttError", None, None, None)
            }
        };
        make_error(py, class, &e.to_string(), reason_code, argument, rule)
    })
}

pub(crate) fn make_error(
    py: Python<'_>,
    class: &str,
    message: &str,
    reason_code: Option<ReasonCode>,
    argument: Option<String>,
    rule: Option<String>,
) -> PyErr {
    static ERRORS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let build = || -> PyResult<PyErr> {
        let module = ERRORS.get_or_try_init(py, || {
            py.import("midge._errors").map(|m| m.into_any().unbind())
        })?;
        let cls = module.bind(py).getattr(class)?;
        let instance = cls.call1((message,))?;
        instance.setattr("reason_code", reason_code.map(|r| r.code()))?;
        if let Some(argument) = argument {
            instance.setattr("argument", argument)?;
        }
        if let Some(rule) = rule {
            instance.setattr("rule", rule)?;
        }
        Ok(PyErr::from_value(instance))
    };
    build().unwrap_or_else(|e| e)
}

pub(crate) fn invalid(argument: &str, rule: impl Into<String>) -> PyErr {
    to_py_err(NativeError::InvalidArgument {
        argument: argument.to_string(),
        rule: rule.into(),
    })
}

fn duration(argument: &str, seconds: Option<f64>) -> PyResult<Option<Duration>> {
    match seconds {
        None => Ok(None),
        Some(s) if s.is_finite() && s >= 0.0 => Ok(Some(Duration::from_secs_f64(s))),
        Some(_) => Err(invalid(
            argument,
            "must be a finite number of seconds >= 0, or None",
        )),
    }
}

/// Block without the GIL in slices of at most 100 ms until `attempt` gives
/// a value or `limit` passes (`Ok(None)`), checking for Ctrl-C between
/// slices so that a blocking wait stays interruptible.
fn interruptible<T: Send>(
    py: Python<'_>,
    limit: Option<Duration>,
    mut attempt: impl FnMut(Duration) -> Option<T> + Send,
) -> PyResult<Option<T>> {
    let start = std::time::Instant::now();
    loop {
        let left = limit.map(|l| l.saturating_sub(start.elapsed()));
        let slice = left.map_or(SLICE, |l| l.min(SLICE));
        if let Some(value) = py.detach(|| attempt(slice)) {
            return Ok(Some(value));
        }
        py.check_signals()?;
        if left.is_some_and(|l| l <= slice) {
            return Ok(None);
        }
    }
}

const SLICE: Duration = Duration::from_millis(100);

/// Wakes the thread that waits in [`park_on`].
struct ThreadWaker(std::thread::Thread);

impl std::task::Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Run `fut` on this thread until it finishes (`Some`) or `limit` passes
/// (`None`, the future dropped: only cancel-safe futures here). Parks the
/// thread between polls. Unlike the runtime's `block_on` with a tokio timer,
/// it registers no timer with the driver thread, so a consumer that waits
/// for every message does not also wake the driver each time. The futures
/// waited on (channel receives, replies) need no runtime context.
fn park_on<F: Future>(fut: F, limit: Duration) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let waker = std::task::Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let std::task::Poll::Ready(value) = fut.as_mut().poll(&mut cx) {
            return Some(value);
        }
        let now = std::time::Instant::now();
        if now >= deadline {
            return None;
        }
        // A wake-up, a spurious unpark or the deadline: poll again.
        std::thread::park_timeout(deadline - now);
    }
}

/// What a command resolves with.
#[derive(Clone)]
enum ReplyValue {
    Connected(Box<Connected>),
    Published(PublishDone),
    Subscribed(SubscribeOutcome),
    Unsubscribed(UnsubscribeOutcome),
    Unit,
}

impl ReplyValue {
    fn into_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(match self {
            ReplyValue::Connected(c) => connected_to_py(py, &c)?,
            // The common answer (success, no properties) is None: the
            // Python layer maps it to one shared result object.
            ReplyValue::Published(done)
                if done.reason_code == ReasonCode::Success
                    && done.properties.reason_string.is_none()
                    && done.properties.user_properties.is_empty() =>
            {
                py.None()
            }
            ReplyValue::Published(done) => {
                let d = PyDict::new(py);
                d.set_item("reason_code", done.reason_code.code())?;
                d.set_item("properties", ack_props_to_py(py, &done.properties)?)?;
                d.into_any().unbind()
            }
            ReplyValue::Subscribed(outcome) => {
                let list = PyList::empty(py);
                for r in &outcome.results {
                    let code = match r {
                        Ok(q) => *q as u8,
                        Err(rc) => rc.code(),
                    };
                    list.append(code)?;
                }
                let d = PyDict::new(py);
                d.set_item("reason_codes", list)?;
                d.set_item("properties", ack_props_to_py(py, &outcome.properties)?)?;
                d.into_any().unbind()
            }
            ReplyValue::Unsubscribed(outcome) => {
                let codes: Vec<u8> = outcome.results.iter().map(|r| r.code()).collect();
                let d = PyDict::new(py);
                d.set_item("reason_codes", codes)?;
                d.set_item("properties", ack_props_to_py(py, &outcome.properties)?)?;
                d.into_any().unbind()
            }
            ReplyValue::Unit => py.None(),
        })
    }
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<ReplyValue, NativeError>> + Send>>;

enum PendingState {
    Waiting(BoxFuture),
    Ready(Result<ReplyValue, NativeError>),
    /// A `wait` is under way on another thread.
    Taken,
}

/// One command on its way to the broker: wait for it (blocking or async).
#[pyclass(module = "midge._native")]
struct Pending {
    /// Shared with an awaitable that drives the future (`wait_async`).
    state: Arc<Mutex<PendingState>>,
    what: &'static str,
    /// A QoS 1/2 publish of an `AsyncClient`: the loop that awaits it
    /// reads its acknowledgement when it can.
    acks: Option<Arc<aio::AckWatch>>,
    /// A QoS 1/2 publish of a `Client`: the thread that waits for it reads
    /// its acknowledgement when it can.
    reader: Option<midge_native::AcknowledgementReader>,
}

impl Pending {
    fn new<F>(what: &'static str, fut: F) -> Pending
    where
        F: Future<Output = Result<ReplyValue, NativeError>> + Send + 'static,
    {
        Pending {
            state: Arc::new(Mutex::new(PendingState::Waiting(Box::pin(fut)))),
            what,
            acks: None,
            reader: None,
        }
    }

    fn take(&self) -> PyResult<PendingState> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let taken = std::mem::replace(&mut *state, PendingState::Taken);
        match taken {
            PendingState::Waiting(mut fut) => match (&mut fut).now_or_never() {
                Some(result) => Ok(PendingState::Ready(result)),
                None => Ok(PendingState::Waiting(fut)),
            },
            PendingState::Taken => Err(to_py_err(NativeError::Rejected {
                message: format!(
                    "something else is waiting for this {} right now: wait for it in one place at a time",
                    self.what
                ),
            })),
            ready => Ok(ready),
        }
    }

    fn put_back(&self, state: PendingState) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = state;
    }
}

/// Drives a pending future for an awaitable: keeps the result in the
/// shared state, and puts the future back if the awaitable is cancelled
/// (e.g. by `asyncio.wait_for`), so the operation can be awaited again.
struct Driving {
    state: Arc<Mutex<PendingState>>,
    fut: Option<BoxFuture>,
}

impl Future for Driving {
    type Output = Result<ReplyValue, NativeError>;

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let Some(fut) = self.fut.as_mut() else {
            return std::task::Poll::Ready(Err(NativeError::closed("already finished")));
        };
        let std::task::Poll::Ready(result) = fut.as_mut().poll(cx) else {
            return std::task::Poll::Pending;
        };
        self.fut = None;
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = PendingState::Ready(result.clone());
        std::task::Poll::Ready(result)
    }
}

impl Drop for Driving {
    fn drop(&mut self) {
        if let Some(fut) = self.fut.take() {
            *self.state.lock().unwrap_or_else(|p| p.into_inner()) = PendingState::Waiting(fut);
        }
    }
}

#[pymethods]
impl Pending {
    /// True once the result is there.
    fn done(&self) -> PyResult<bool> {
        if let Some(reader) = &self.reader {
            reader.read_available();
        }
        let state = self.take()?;
        let done = matches!(state, PendingState::Ready(_));
        self.put_back(state);
        Ok(done)
    }

    /// Block (without the GIL) until the result is there; raise on failure.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        let limit = duration("timeout", timeout)?;
        let result = match self.take()? {
            PendingState::Ready(result) => result,
            PendingState::Waiting(mut fut) => {
                let reader = self.reader.clone();
                let outcome = interruptible(py, limit, |slice| match &reader {
                    Some(reader) => reader.block_on(&mut fut, slice),
                    None => park_on(&mut fut, slice),
                });
                match outcome {
                    Ok(Some(result)) => result,
                    Ok(None) => {
                        self.put_back(PendingState::Waiting(fut));
                        return Err(to_py_err(NativeError::Timeout {
                            message: format!(
                                "the {} did not finish within {} s; it is not cancelled: it still completes or fails later (call wait() or done() again to find out)",
                                self.what,
                                timeout.unwrap_or(0.0)
                            ),
                        }));
                    }
                    Err(interrupted) => {
                        self.put_back(PendingState::Waiting(fut));
                        return Err(interrupted);
                    }
                }
            }
            PendingState::Taken => unreachable!("take() never returns Taken"),
        };
        // Kept, so that done() and wait() can be asked again.
        let value = result.clone();
        self.put_back(PendingState::Ready(result));
        value.map_err(to_py_err)?.into_py(py)
    }

    /// An awaitable of the result (for asyncio).
    fn wait_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let state = self.take()?;
        let waiting = matches!(state, PendingState::Waiting(_));
        let fut: BoxFuture = match state {
            PendingState::Ready(result) => {
                self.put_back(PendingState::Ready(result.clone()));
                Box::pin(async move { result })
            }
            PendingState::Waiting(fut) => Box::pin(Driving {
                state: self.state.clone(),
                fut: Some(fut),
            }),
            PendingState::Taken => unreachable!("take() never returns Taken"),
        };
        let event_loop = aio::running_loop(py)?;
        if let (Some(acks), true) = (&self.acks, waiting) {
            acks.start(py, &event_loop);
        }
        let fut = async move {
            let result = fut.await;
            move |py: Python<'_>| result.map_err(to_py_err)?.into_py(py)
        };
        aio::future_into_py_on(py, &event_loop, fut, None)
    }
}

/// Inbound messages for one filter (or all).
#[pyclass(module = "midge._native")]
struct MessageReceiver {
    stream: Arc<tokio::sync::Mutex<Option<MessageStream>>>,
    /// The socket an event loop watches for this receiver's awaitables.
    watch: Arc<aio::SocketWatch>,
    /// The [`NativeClientPy::id`] of the client it belongs to.
    origin: u64,
}

fn messages_to_list(
    py: Python<'_>,
    batch: Vec<midge_core::Message>,
    origin: u64,
) -> PyResult<Bound<'_, PyList>> {
    let list = PyList::empty(py);
    for message in batch {
        list.append(Bound::new(
            py,
            Message {
                publish: message.publish,
                ack: message.ack.map(|handle| (handle, origin)),
            },
        )?)?;
    }
    Ok(list)
}

#[pymethods]
impl MessageReceiver {
    /// Up to `max` messages that are already there (maybe none).
    fn try_recv_batch<'py>(&self, py: Python<'py>, max: usize) -> PyResult<Bound<'py, PyList>> {
        let mut batch = Vec::new();
        if let Ok(mut guard) = self.stream.try_lock() {
            if let Some(stream) = guard.as_mut() {
                while batch.len() < max {
                    match stream.try_recv_message() {
                        Some(m) => batch.push(m),
                        None => break,
                    }
                }
            }
        }
        messages_to_list(py, batch, self.origin)
    }

    /// [`try_recv_batch`](Self::try_recv_batch) for an async iterator: the
    /// first time it finds messages waiting, the running loop starts
    /// watching the socket for this receiver (see `aio::SocketWatch`).
    fn try_recv_batch_async<'py>(
        &self,
        py: Python<'py>,
        max: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        let batch = self.try_recv_batch(py, max)?;
        if !batch.is_empty() && !self.watch.is_watching() {
            if let Ok(event_loop) = aio::running_loop(py) {
                self.watch.start(&event_loop);
            }
        }
        Ok(batch)
    }

    /// Block (without the GIL) for at least one message, up to `timeout`
    /// seconds; returns up to `max` (an empty list on timeout). Returns None
    /// once the client is gone.
    #[pyo3(signature = (max, timeout=None))]
    fn recv_batch(&self, py: Python<'_>, max: usize, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        let limit = duration("timeout", timeout)?;
        let outcome = interruptible(py, limit, |slice| {
            let start = std::time::Instant::now();
            let mut guard = park_on(self.stream.lock(), slice)?;
            let Some(stream) = guard.as_mut() else {
                return Some((Vec::new(), false));
            };
            // This thread reads the socket itself when it can (see
            // `MessageStream::read_inline`); a slice that times out loses
            // nothing.
            let mut batch = Vec::new();
            let left = slice.saturating_sub(start.elapsed());
            let n = stream.recv_many_messages_blocking(&mut batch, max, left)?;
            Some((batch, n > 0))
        })?;
        let (batch, open) = outcome.unwrap_or((Vec::new(), true));
        if !open {
            return Ok(py.None());
        }
        Ok(messages_to_list(py, batch, self.origin)?
            .into_any()
            .unbind())
    }

    /// An awaitable of up to `max` messages (at least one); None once the
    /// client is gone.
    fn recv_batch_async<'py>(&self, py: Python<'py>, max: usize) -> PyResult<Bound<'py, PyAny>> {
        let stream = self.stream.clone();
        let origin = self.origin;
        let watch = self.watch.clone();
        let watched = watch.clone();
        let event_loop = aio::running_loop(py)?;
        // The stream wakes the loop's watch, which polls this future or,
        // with none waiting, reads for the stream.
        let waker = watch.bind(&event_loop);
        aio::future_into_py_on(
            py,
            &event_loop,
            async move {
                let mut guard = stream.lock().await;
                let mut batch = Vec::new();
                let n = match guard.as_mut() {
                    // The loop's thread reads the socket itself when it can
                    // (`MessageStream::recv_step`), the loop watching it.
                    Some(stream) if watch.usable() => {
                        if waker.is_some() {
                            watch.watching();
                        }
                        std::future::poll_fn(|cx| {
                            let waker = waker.as_ref().unwrap_or(cx.waker());
                            match stream.recv_step(&mut batch, max, waker) {
                                RecvStep::Messages(n) => std::task::Poll::Ready(n),
                                RecvStep::Closed => std::task::Poll::Ready(0),
                                RecvStep::WaitForSocket { socket, handover } => {
                                    watch.want(Some((socket, handover)));
                                    std::task::Poll::Pending
                                }
                                RecvStep::Wait => {
                                    watch.want(None);
                                    std::task::Poll::Pending
                                }
                            }
                        })
                        .await
                    }
                    // A loop that cannot watch sockets: a tokio task waits.
                    Some(stream) => stream.recv_many_messages(&mut batch, max).await,
                    None => 0,
                };
                drop(guard);
                move |py: Python<'_>| -> PyResult<Py<PyAny>> {
                    if n == 0 {
                        return Ok(py.None());
                    }
                    Ok(messages_to_list(py, batch, origin)?.into_any().unbind())
                }
            },
            Some(watched),
        )
    }

    /// Stop receiving (unregisters the filter). `unread`: messages taken
    /// from this receiver but not used, oldest first; a receiver without a
    /// filter hands them (and what it still holds) to the next one.
    #[pyo3(signature = (unread=None))]
    fn close(&self, py: Python<'_>, unread: Option<Vec<Bound<'_, Message>>>) {
        self.watch.stop(py);
        let unread: Vec<midge_core::Message> = unread
            .unwrap_or_default()
            .iter()
            .map(|m| {
                let m = m.get();
                midge_core::Message {
                    publish: m.publish.clone(),
                    ack: m.ack.map(|(handle, _)| handle),
                }
            })
            .collect();
        let finish = move |stream: Option<MessageStream>| {
            if let Some(stream) = stream {
                stream.close_with_unread(unread);
            }
        };
        if let Ok(mut guard) = self.stream.try_lock() {
            finish(guard.take());
        } else {
            let stream = self.stream.clone();
            midge_native::runtime().spawn(async move {
                finish(stream.lock().await.take());
            });
        }
    }
}

/// An inbound application message.
#[pyclass(module = "midge", frozen, name = "Message")]
struct Message {
    publish: Publish,
    /// Manual-ack mode, QoS 1/2: the handle and the id of the client that
    /// received it.
    ack: Option<(AckHandle, u64)>,
}

#[pymethods]
impl Message {
    /// True when it waits for `client.ack(message)`: manual-ack mode and
    /// QoS 1 or 2. (Still True after the ack: it says how it arrived.)
    #[getter]
    fn needs_ack(&self) -> bool {
        self.ack.is_some()
    }
    /// The topic it was published to.
    #[getter]
    fn topic(&self) -> &str {
        &self.publish.topic
    }
    /// The payload bytes.
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.publish.payload)
    }
    /// The QoS it was delivered with: 0, 1 or 2.
    #[getter]
    fn qos(&self) -> u8 {
        self.publish.qos as u8
    }
    /// True when it is the topic's retained message, sent on subscribe.
    #[getter]
    fn retain(&self) -> bool {
        self.publish.retain
    }
    /// True when this is a redelivery (DUP flag).
    #[getter]
    fn dup(&self) -> bool {
        self.publish.dup
    }
    /// The 5.0 properties as a dict (absent ones left out).
    #[getter]
    fn properties(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        publish_props_to_py(py, &self.publish.properties)
    }
    /// 5.0 user properties as a list of (name, value) pairs.
    #[getter]
    fn user_properties(&self) -> Vec<(String, String)> {
        self.publish.properties.user_properties.clone()
    }
    /// 5.0: the topic the publisher wants an answer on.
    #[getter]
    fn response_topic(&self) -> Option<&str> {
        self.publish.properties.response_topic.as_deref()
    }
    /// 5.0: bytes the publisher uses to match an answer to its request.
    #[getter]
    fn correlation_data<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.publish
            .properties
            .correlation_data
            .as_ref()
            .map(|d| PyBytes::new(py, d))
    }
    /// 5.0: MIME type of the payload, as the publisher set it.
    #[getter]
    fn content_type(&self) -> Option<&str> {
        self.publish.properties.content_type.as_deref()
    }
    /// 5.0: identifiers of the subscriptions it matched.
    #[getter]
    fn subscription_identifiers(&self) -> Vec<u32> {
        self.publish.properties.subscription_identifiers.clone()
    }
    /// 5.0: seconds left before the broker would have dropped it.
    #[getter]
    fn message_expiry_interval(&self) -> Option<u32> {
        self.publish.properties.message_expiry_interval
    }
    /// 5.0: True when the publisher marked the payload as UTF-8.
    #[getter]
    fn payload_format_indicator(&self) -> Option<bool> {
        self.publish.properties.payload_format_indicator
    }
    fn __repr__(&self) -> String {
        let payload = &self.publish.payload;
        let shown = if payload.len() > 40 {
            &payload[..40]
        } else {
            &payload[..]
        };
        format!(
            "Message(topic={:?}, payload={}{}, qos={}, retain={})",
            self.publish.topic,
            String::from_utf8_lossy(shown),
            if payload.len() > 40 { "..." } else { "" },
            self.publish.qos as u8,
            if self.publish.retain { "True" } else { "False" }
        )
    }
}

/// The client's events (connected, disconnected, subscriptions restored,
/// AUTH, store failures) as `(kind, dict)` tuples.
#[pyclass(module = "midge._native")]
struct EventReceiver {
    stream: Arc<tokio::sync::Mutex<Option<EventStream>>>,
}

fn event_to_py(py: Python<'_>, event: NativeEvent) -> PyResult<Py<PyAny>> {
    let d = PyDict::new(py);
    let kind = match event {
        NativeEvent::Connected(c) => {
            d.set_item("result", connected_to_py(py, &c)?)?;
            "connected"
        }
        NativeEvent::Disconnected {
            error,
            reconnecting,
            reconnect_in_ms,
            attempt,
        } => {
            d.set_item("error", to_py_err(error).into_value(py))?;
            d.set_item("reconnecting", reconnecting)?;
            d.set_item("reconnect_in", reconnect_in_ms.map(|ms| ms as f64 / 1000.0))?;
            d.set_item("attempt", attempt)?;
            "disconnected"
        }
        NativeEvent::SubscriptionsRestored { results } => {
            let list = PyList::empty(py);
            for (filter, result) in results {
                let code = match result {
                    Ok(q) => q as u8,
                    Err(rc) => rc.code(),
                };
                list.append((filter, code))?;
            }
            d.set_item("results", list)?;
            "subscriptions_restored"
        }
        NativeEvent::Auth {
            reason_code,
            properties,
        } => {
            d.set_item("reason_code", reason_code.code())?;
            d.set_item("authentication_method", properties.authentication_method)?;
            d.set_item(
                "authentication_data",
                properties
                    .authentication_data
                    .as_ref()
                    .map(|b| PyBytes::new(py, b)),
            )?;
            d.set_item("reason_string", properties.reason_string)?;
            d.set_item("user_properties", properties.user_properties)?;
            "auth"
        }
        NativeEvent::Redirected(redirect) => {
            d.set_item("reason_code", redirect.reason_code.code())?;
            d.set_item("server_reference", redirect.server_reference)?;
            d.set_item("target", redirect.target.map(|t| t.to_string()))?;
            d.set_item("followed", redirect.followed)?;
            "redirected"
        }
        NativeEvent::StoreFailed { error } => {
            d.set_item("error", to_py_err(error).into_value(py))?;
            "store_failed"
        }
    };
    Ok((kind, d).into_pyobject(py)?.into_any().unbind())
}

fn events_to_list(py: Python<'_>, batch: Vec<NativeEvent>) -> PyResult<Bound<'_, PyList>> {
    let list = PyList::empty(py);
    for event in batch {
        list.append(event_to_py(py, event)?)?;
    }
    Ok(list)
}

#[pymethods]
impl EventReceiver {
    /// Up to `max` events that are already there (maybe none).
    fn try_recv_batch<'py>(&self, py: Python<'py>, max: usize) -> PyResult<Bound<'py, PyList>> {
        let mut batch = Vec::new();
        if let Ok(mut guard) = self.stream.try_lock() {
            if let Some(stream) = guard.as_mut() {
                while batch.len() < max {
                    match stream.try_recv() {
                        Some(e) => batch.push(e),
                        None => break,
                    }
                }
            }
        }
        events_to_list(py, batch)
    }

    /// Block (without the GIL) for one event, up to `timeout` seconds;
    /// returns a list of it (empty on timeout), or None once the client is gone.
    #[pyo3(signature = (timeout=None))]
    fn recv(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        let limit = duration("timeout", timeout)?;
        let outcome = interruptible(py, limit, |slice| {
            // EventStream::recv is cancel-safe (a broadcast receive).
            park_on(
                async {
                    let mut guard = self.stream.lock().await;
                    match guard.as_mut() {
                        Some(stream) => stream.recv().await,
                        None => None,
                    }
                },
                slice,
            )
        })?;
        match outcome {
            None => Ok(PyList::empty(py).into_any().unbind()),
            Some(None) => Ok(py.None()),
            Some(Some(event)) => Ok(events_to_list(py, vec![event])?.into_any().unbind()),
        }
    }

    /// An awaitable of a list of one event; None once the client is gone.
    fn recv_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stream = self.stream.clone();
        aio::future_into_py(py, async move {
            let mut guard = stream.lock().await;
            let event = match guard.as_mut() {
                Some(stream) => stream.recv().await,
                None => None,
            };
            drop(guard);
            move |py: Python<'_>| -> PyResult<Py<PyAny>> {
                match event {
                    None => Ok(py.None()),
                    Some(event) => Ok(events_to_list(py, vec![event])?.into_any().unbind()),
                }
            }
        })
    }

    /// How many events were skipped because nobody read them in time.
    fn missed(&self) -> u64 {
        match self.stream.try_lock() {
            Ok(guard) => guard.as_ref().map_or(0, |s| s.missed()),
            Err(_) => 0,
        }
    }
}

/// Gives each native client an id, so that `ack` can tell its own messages.
static NEXT_CLIENT_ID: AtomicU64 = AtomicU64::new(1);

/// The native client: one connection, driven by a tokio task.
#[pyclass(module = "midge._native", name = "NativeClient")]
struct NativeClientPy {
    native: Native,
    /// Reads acknowledgements on the loop that waits for the publishes
    /// (`AsyncClient`).
    /// Made by the first QoS 1/2 publish on a loop (or the first stream):
    /// an idle connection does not carry it.
    acks: std::sync::OnceLock<Arc<aio::AckWatch>>,
    id: u64,
    /// The `log_payloads` option, kept for `set_trace_level`.
    log_payloads: bool,
}

impl NativeClientPy {
    /// The socket watch of the loop that awaits the publishes (made once).
    fn ack_watch(&self) -> &Arc<aio::AckWatch> {
        self.acks
            .get_or_init(|| aio::AckWatch::new(self.native.clone()))
    }
}

#[pymethods]
impl NativeClientPy {
    #[new]
    fn new(py: Python<'_>, options: &Bound<'_, PyDict>) -> PyResult<Self> {
        let options = native_options(options)?;
        let log_payloads = options.trace.as_ref().is_some_and(|t| t.payloads);
        // Loading a file store reads the disk: no need to hold the GIL.
        let native = py.detach(|| Native::new(options)).map_err(to_py_err)?;
        Ok(NativeClientPy {
            acks: std::sync::OnceLock::new(),
            native,
            id: NEXT_CLIENT_ID.fetch_add(1, Ordering::Relaxed),
            log_payloads,
        })
    }

    /// Manual-ack mode: send the PUBACK / PUBREC of `message`.
    fn ack(&self, message: &Bound<'_, PyAny>) -> PyResult<Pending> {
        let message = message
            .cast::<Message>()
            .map_err(|_| invalid("message", "must be a midge.Message"))?
            .get();
        let handle = match message.ack {
            Some((handle, origin)) if origin == self.id => handle,
            Some(_) => {
                return Err(invalid(
                    "message",
                    "was received by another client: acknowledge it there",
                ))
            }
            None => {
                return Err(invalid(
                    "message",
                    "has no acknowledgement to send: it is QoS 0, or the client was not made with manual_acks=True",
                ))
            }
        };
        let reply = self.native.ack(handle);
        Ok(Pending::new("ack", async move {
            reply.await.map(|()| ReplyValue::Unit)
        }))
    }

    /// 5.0 AUTH: answer a challenge, or (`reauthenticate`) start a
    /// re-authentication. `method` None: the one of the options.
    #[pyo3(signature = (data=None, method=None, reason_string=None, user_properties=None, reauthenticate=false))]
    fn auth(
        &self,
        data: Option<&Bound<'_, PyAny>>,
        method: Option<String>,
        reason_string: Option<String>,
        user_properties: Option<&Bound<'_, PyAny>>,
        reauthenticate: bool,
    ) -> PyResult<Pending> {
        let properties = AuthProperties {
            authentication_method: method,
            authentication_data: match data {
                Some(d) if !d.is_none() => Some(payload_bytes("data", d)?),
                _ => None,
            },
            reason_string,
            user_properties: user_props_opt(user_properties)?,
        };
        let reply = if reauthenticate {
            self.native.reauthenticate(properties)
        } else {
            self.native.auth(properties)
        };
        Ok(Pending::new("auth", async move {
            reply.await.map(|()| ReplyValue::Unit)
        }))
    }

    /// The lowest level (10, 20, 30; None: off) of the trace lines relayed
    /// to the `midge` loggers.
    fn set_trace_level(&self, level: Option<u8>) -> PyResult<()> {
        use midge_core::trace::Severity;
        let level = match level {
            None => None,
            Some(10) => Some(Severity::Debug),
            Some(20) => Some(Severity::Info),
            Some(30) => Some(Severity::Warning),
            Some(_) => return Err(invalid("level", "must be 10, 20, 30 or None")),
        };
        self.native.set_trace(level, self.log_payloads);
        Ok(())
    }

    /// Events from now on.
    fn events(&self) -> EventReceiver {
        EventReceiver {
            stream: Arc::new(tokio::sync::Mutex::new(Some(self.native.events()))),
        }
    }

    fn connect(&self) -> Pending {
        let reply = self.native.connect();
        Pending::new("connect", async move {
            reply.await.map(|c| ReplyValue::Connected(Box::new(c)))
        })
    }

    /// `on_loop`: the caller runs on an asyncio event loop; the bytes of a
    /// publish made while the driver waits are then written when the loop
    /// turns, together with the others of the turn (one write, not one per
    /// publish). `waits`: a blocking caller waits for it at once (its wait
    /// reads the acknowledgement, so no read follows the publish).
    #[pyo3(signature = (topic, payload, qos, retain, properties=None, on_loop=false, waits=false))]
    #[allow(clippy::too_many_arguments)]
    fn publish(
        &self,
        py: Python<'_>,
        topic: String,
        payload: &Bound<'_, PyAny>,
        qos: u8,
        retain: bool,
        properties: Option<&Bound<'_, PyDict>>,
        on_loop: bool,
        waits: bool,
    ) -> PyResult<Pending> {
        let qos = QoS::from_u8(qos).ok_or_else(|| invalid("qos", "must be 0, 1 or 2"))?;
        let mut publish = Publish::new(topic, payload_bytes("payload", payload)?, qos);
        publish.retain = retain;
        if let Some(props) = properties {
            publish.properties = publish_props_from_py(props)?;
        }
        // A producer faster than the socket waits here (GIL released) rather
        // than queue without bound.
        if self.native.publish_backlog_full() {
            interruptible(py, None, |slice| park_on(self.native.publish_room(), slice))?;
        }
        let reply = if on_loop {
            let (reply, flush_needed) = self.native.publish_deferred(publish);
            if flush_needed {
                aio::flush_on_loop(py, &self.native);
            }
            reply
        } else if qos == QoS::AtMostOnce {
            // Done at once whatever the caller waits for; a burst's
            // publishes leave in a few writes.
            self.native.publish_batched(publish)
        } else if waits {
            self.native.publish(publish)
        } else {
            // Its outcome is learned later by reading (wait(), done()): the
            // thread reads the acknowledgements as it publishes.
            self.native.publish_reading(publish)
        };
        let mut pending = Pending::new(
            "publish",
            async move { reply.await.map(ReplyValue::Published) },
        );
        if qos != QoS::AtMostOnce {
            if on_loop {
                // Awaited or not (`publish_nowait`), its acknowledgement may
                // be read on the loop; an await starts the watch on its own
                // loop.
                let acks = self.ack_watch();
                acks.start_on_running_loop(py);
                pending.acks = Some(acks.clone());
            } else {
                pending.reader = Some(self.native.acknowledgement_reader());
            }
        }
        Ok(pending)
    }

    /// `filters`: list of (filter, qos, no_local, retain_as_published, retain_handling).
    #[pyo3(signature = (filters, subscription_identifier=None, user_properties=None))]
    fn subscribe(
        &self,
        filters: Vec<(String, u8, bool, bool, u8)>,
        subscription_identifier: Option<u32>,
        user_properties: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Pending> {
        let mut list = Vec::with_capacity(filters.len());
        for (filter, qos, no_local, rap, rh) in filters {
            let qos = QoS::from_u8(qos).ok_or_else(|| invalid("qos", "must be 0, 1 or 2"))?;
            let mut f = SubscribeFilter::new(filter, qos);
            f.options.no_local = no_local;
            f.options.retain_as_published = rap;
            f.options.retain_handling = retain_handling(rh)?;
            list.push(f);
        }
        let properties = midge_core::packet::SubscribeProperties {
            subscription_identifier,
            user_properties: user_props_opt(user_properties)?,
        };
        let reply = self.native.subscribe(list, properties);
        Ok(Pending::new("subscribe", async move {
            reply.await.map(ReplyValue::Subscribed)
        }))
    }

    #[pyo3(signature = (filters, user_properties=None))]
    fn unsubscribe(
        &self,
        filters: Vec<String>,
        user_properties: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Pending> {
        let properties = midge_core::packet::UnsubscribeProperties {
            user_properties: user_props_opt(user_properties)?,
        };
        let reply = self.native.unsubscribe(filters, properties);
        Ok(Pending::new("unsubscribe", async move {
            reply.await.map(ReplyValue::Unsubscribed)
        }))
    }

    #[pyo3(signature = (reason_code=0, properties=None))]
    fn disconnect(
        &self,
        reason_code: u8,
        properties: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Pending> {
        let reason = ReasonCode::from_u8(reason_code)
            .ok_or_else(|| invalid("reason_code", "is not an MQTT 5.0 reason code"))?;
        let props = match properties {
            Some(p) => disconnect_props_from_py(p)?,
            None => Default::default(),
        };
        let reply = self.native.disconnect(reason, props);
        Ok(Pending::new("disconnect", async move {
            reply.await.map(|()| ReplyValue::Unit)
        }))
    }

    #[pyo3(signature = (filter=None))]
    fn messages(&self, py: Python<'_>, filter: Option<String>) -> PyResult<MessageReceiver> {
        let stream = self.native.messages(filter).map_err(to_py_err)?;
        // The stream's reader watches the socket from now on.
        let watch = aio::SocketWatch::new(stream.loop_reader());
        self.ack_watch().disable(py, &watch);
        Ok(MessageReceiver {
            stream: Arc::new(tokio::sync::Mutex::new(Some(stream))),
            watch,
            origin: self.id,
        })
    }

    /// "disconnected", "connecting", "connected", "waiting_to_reconnect" or "closing".
    fn status(&self) -> &'static str {
        status_name(*self.native.status().borrow())
    }

    /// QoS 1/2 publishes the broker sent beyond our Receive Maximum (accepted).
    fn receive_maximum_overruns(&self) -> u64 {
        self.native.receive_maximum_overruns()
    }

    /// Acks the broker sent for packet ids with nothing waiting for them (ignored).
    fn unknown_acks(&self) -> u64 {
        self.native.unknown_acks()
    }

    /// Block until the status is `status` (e.g. "connected"); False on timeout.
    #[pyo3(signature = (status, timeout=None))]
    fn wait_status(&self, py: Python<'_>, status: String, timeout: Option<f64>) -> PyResult<bool> {
        let limit = duration("timeout", timeout)?;
        let mut rx = self.native.status();
        let reached = interruptible(py, limit, |slice| {
            // Ok: reached; Err: the client is gone.
            park_on(rx.wait_for(|s| status_name(*s) == status), slice).map(|r| r.is_ok())
        })?;
        Ok(reached.unwrap_or(false))
    }

    fn network_changed(&self) {
        self.native.network_changed();
    }
    fn pause(&self) {
        self.native.pause();
    }
    fn resume(&self) {
        self.native.resume();
    }
    /// Resolves once every earlier command reached the core (and its store).
    fn sync(&self) -> Pending {
        let reply = self.native.sync();
        Pending::new(
            "sync",
            async move { reply.await.map(|()| ReplyValue::Unit) },
        )
    }

    /// Drop the connection without DISCONNECT (tests, simulated network loss).
    fn drop_transport(&self) {
        self.native.drop_transport();
    }
}

fn status_name(s: ConnectionStatus) -> &'static str {
    match s {
        ConnectionStatus::Disconnected => "disconnected",
        ConnectionStatus::Connecting => "connecting",
        ConnectionStatus::Connected => "connected",
        ConnectionStatus::WaitingToReconnect => "waiting_to_reconnect",
        ConnectionStatus::Closing => "closing",
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // asyncio awaitables complete on the same runtime the drivers run on,
    // and never once the interpreter shuts down (aio's atexit hook).
    aio::register(m)?;
    m.add_class::<NativeClientPy>()?;
    m.add_class::<Pending>()?;
    m.add_class::<MessageReceiver>()?;
    m.add_class::<EventReceiver>()?;
    m.add_class::<Message>()?;
    Ok(())
}
