//! asyncio awaitables of native futures, and the gate that keeps midge's
//! tokio threads out of Python once the interpreter shuts down.
//!
//! A thread that enters Python while the interpreter finalizes can take the
//! process down: before Python 3.14, CPython ends a thread that waits for
//! the GIL then with `pthread_exit`, whose forced unwind through Rust frames
//! aborts ("FATAL: exception not rethrown", or `PyGILState_Release`'s fatal
//! error), and a thread that runs on may touch interpreter state that is
//! being freed (SIGSEGV). pyo3 (>= 0.24) hangs a thread that attaches during
//! shutdown instead, but a thread that is already attached and gives the GIL
//! up in the middle of a call (the write to the event loop's self-pipe in
//! `call_soon_threadsafe`, a switch of the eval loop) and takes it back still
//! meets `pthread_exit`, and on an abi3 build pyo3 cannot ask
//! `Py_IsFinalizing` (3.13+ only). So:
//!
//! - tokio threads enter Python only through [`attach`], which counts them;
//! - an `atexit` hook ([`register`]), which CPython runs before it starts to
//!   finalize, closes the gate and waits (GIL released) for the threads
//!   inside to leave. From then on no midge thread enters Python: what an
//!   awaitable would have been completed with is dropped (its Python objects
//!   through pyo3's deferred reference counting, which needs no interpreter).
//!
//! [`future_into_py`] replaces `pyo3_async_runtimes::tokio::future_into_py`,
//! whose completion attaches on a blocking thread that no gate can hold back.

use std::future::Future;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use midge_native::NativeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use tokio::sync::oneshot;

struct Gate {
    closed: bool,
    /// Threads attached through [`attach`] right now.
    inside: usize,
}

static GATE: Mutex<Gate> = Mutex::new(Gate {
    closed: false,
    inside: 0,
});
static LEFT: Condvar = Condvar::new();

/// How long the atexit hook waits for threads inside Python to leave.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

fn gate() -> MutexGuard<'static, Gate> {
    GATE.lock().unwrap_or_else(|p| p.into_inner())
}

/// A thread counted as inside; leaves on drop.
struct Inside;

impl Drop for Inside {
    fn drop(&mut self) {
        let mut gate = gate();
        gate.inside -= 1;
        if gate.inside == 0 {
            LEFT.notify_all();
        }
    }
}

/// Run `f` attached to the interpreter, from a thread that Python did not
/// start; `None` (and `f` not run) once the interpreter shuts down.
pub(crate) fn attach<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Option<R> {
    let _inside = {
        let mut gate = gate();
        if gate.closed {
            return None;
        }
        gate.inside += 1;
        Inside
    };
    // Detached again before `_inside` leaves.
    Python::try_attach(f)
}

/// atexit: close the gate, then wait (GIL released, at most [`CLOSE_WAIT`])
/// until no thread is inside Python through [`attach`].
#[pyfunction]
fn close_gate(py: Python<'_>) {
    // What the completion thread still holds (log lines of the last
    // disconnect, say) is run first: a marker job, waited for (GIL released,
    // at most a second) so that the jobs queued before it get the GIL.
    let flushed = std::sync::Arc::new((Mutex::new(false), Condvar::new()));
    let marker = flushed.clone();
    complete_later(Box::new(move |_py| {
        *marker.0.lock().unwrap_or_else(|p| p.into_inner()) = true;
        marker.1.notify_all();
    }));
    py.detach(|| {
        let done = flushed.0.lock().unwrap_or_else(|p| p.into_inner());
        let _ = flushed
            .1
            .wait_timeout_while(done, Duration::from_secs(1), |done| !*done);
    });
    gate().closed = true;
    py.detach(|| {
        let gate = gate();
        let _ = LEFT.wait_timeout_while(gate, CLOSE_WAIT, |g| g.inside > 0);
    });
}

/// Register the atexit hook. The module is imported before the Python layer
/// registers its own hooks, and atexit runs hooks last-in first-out, so this
/// one runs after them, right before finalization starts.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let close = wrap_pyfunction!(close_gate, m)?;
    m.py()
        .import("atexit")?
        .call_method1("register", (close,))?;
    Ok(())
}

/// An asyncio future, on the running event loop, of `fut`: the closure `fut`
/// resolves to gives the result or the exception, run attached to the
/// interpreter so that no tokio worker waits for the GIL. Where the loop
/// can watch a file descriptor (`add_reader`: the selector loops on Unix,
/// uvloop), the loop's own thread polls `fut` ([`LoopTask`]), woken through
/// a socket pair ([`LoopWake`]); elsewhere (Windows' proactor loop) a tokio
/// task drives it and the completion thread hands the result over with
/// `call_soon_threadsafe`. Cancelling the asyncio future drops `fut`. After
/// the atexit hook nothing is completed (see the module docs), so from then
/// on this raises `midge.ClosedError` rather than give an awaitable that
/// never ends.
pub(crate) fn future_into_py<'py, F, C>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = C> + Send + 'static,
    C: for<'a> FnOnce(Python<'a>) -> PyResult<Py<PyAny>> + Send + 'static,
{
    future_into_py_on(py, &running_loop(py)?, fut, None)
}

/// The running event loop (after the shutdown gate closed, the error
/// [`future_into_py`] gives then).
pub(crate) fn running_loop(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    if gate().closed {
        return Err(crate::to_py_err(NativeError::closed(
            "the interpreter is shutting down: asyncio operations can no longer complete",
        )));
    }
    pyo3_async_runtimes::get_running_loop(py)
}

/// [`future_into_py`] on `event_loop`, the running loop (from
/// [`running_loop`]), for a future that may ask the loop to watch a socket
/// for it (`watch`, a [`SocketWatch`]): where the loop can (a [`LoopTask`]),
/// the loop's reader callback polls the future when the socket is readable.
pub(crate) fn future_into_py_on<'py, F, C>(
    py: Python<'py>,
    event_loop: &Bound<'py, PyAny>,
    fut: F,
    watch: Option<Arc<SocketWatch>>,
) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = C> + Send + 'static,
    C: for<'a> FnOnce(Python<'a>) -> PyResult<Py<PyAny>> + Send + 'static,
{
    let awaitable = event_loop.call_method0(intern!(py, "create_future"))?;
    if let Some(wake) = loop_wake(event_loop) {
        let watch = watch.map(|w| (w, event_loop.clone().unbind()));
        LoopTask::start(py, &awaitable, &wake, watch, fut)?;
        return Ok(awaitable);
    }
    let (done_tx, done_rx) = oneshot::channel();
    awaitable.call_method1(
        intern!(py, "add_done_callback"),
        (OnDone(Mutex::new(Some(done_tx))),),
    )?;
    let event_loop = event_loop.clone().unbind();
    let target = awaitable.clone().unbind();
    midge_native::runtime().spawn(async move {
        // Only this task completes the future: done before that means
        // cancelled, and the work is dropped.
        let convert = tokio::select! {
            biased;
            _ = done_rx => return,
            convert = fut => convert,
        };
        complete_later(Box::new(move |py| {
            let completion = Completion::of(py, target, convert(py));
            READY.with_borrow_mut(|ready| ready.push((event_loop, completion)));
        }));
    });
    Ok(awaitable)
}

/// What a [`LoopTask`]'s future gives: the conversion to run on the loop.
type Convert = Box<dyn for<'a> FnOnce(Python<'a>) -> PyResult<Py<PyAny>> + Send>;
type LoopFuture = std::pin::Pin<Box<dyn Future<Output = Convert> + Send>>;

/// A future run by its event loop's own thread: polled there (first right
/// away, in the call that made the awaitable, so a result that is already
/// there completes it before it is even awaited), and polled again when its
/// waker fires, through the loop's [`LoopWake`]. No tokio task: nothing is
/// spawned, no tokio thread is woken to poll it, and the thread that makes
/// it ready (the connection's driver) wakes the loop directly.
struct LoopTask {
    /// `None` once finished or cancelled (dropped on the loop's thread).
    fut: Mutex<Option<LoopFuture>>,
    target: Py<PyAny>,
    /// Weak: the loop owns its wake (a task must not keep a dead loop's
    /// socket pair alive).
    wake: std::sync::Weak<LoopWake>,
    /// A poll is queued on the loop: more wakes need not queue another.
    queued: std::sync::atomic::AtomicBool,
    /// The socket watch the future reports to, with the loop that watches.
    watch: Option<(Arc<SocketWatch>, Py<PyAny>)>,
}

impl LoopTask {
    fn start<F, C>(
        py: Python<'_>,
        awaitable: &Bound<'_, PyAny>,
        wake: &Arc<LoopWake>,
        watch: Option<(Arc<SocketWatch>, Py<PyAny>)>,
        fut: F,
    ) -> PyResult<()>
    where
        F: Future<Output = C> + Send + 'static,
        C: for<'a> FnOnce(Python<'a>) -> PyResult<Py<PyAny>> + Send + 'static,
    {
        #[cfg(unix)]
        if let Some((watch, _)) = &watch {
            watch
                .usable
                .store(true, std::sync::atomic::Ordering::Release);
        }
        let task = Arc::new(LoopTask {
            fut: Mutex::new(Some(Box::pin(
                async move { Box::new(fut.await) as Convert },
            ))),
            target: awaitable.clone().unbind(),
            wake: Arc::downgrade(wake),
            queued: std::sync::atomic::AtomicBool::new(false),
            watch,
        });
        // Made just now: it cannot be cancelled yet, so no `done()` call.
        if task.poll_unchecked(py) {
            return Ok(());
        }
        awaitable.call_method1(intern!(py, "add_done_callback"), (CancelOnDone(task),))?;
        Ok(())
    }

    /// Polls the future on the loop's thread; when it is ready, completes
    /// the asyncio future. Returns whether it finished.
    fn poll(self: &Arc<Self>, py: Python<'_>) -> bool {
        // Cancelled, and its done callback has not run yet: dropped unpolled,
        // so a message that arrived meanwhile stays for the next receive
        // instead of completing a future nobody reads.
        let cancelled = self
            .target
            .bind(py)
            .call_method0(intern!(py, "done"))
            .and_then(|done| done.is_truthy())
            .unwrap_or(true);
        if cancelled {
            *self.fut.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        self.poll_unchecked(py)
    }

    /// [`LoopTask::poll`] without asking whether the asyncio future is
    /// still pending.
    fn poll_unchecked(self: &Arc<Self>, py: Python<'_>) -> bool {
        use std::sync::atomic::Ordering;
        // Cleared before the poll: a wake during it queues the next one.
        self.queued.store(false, Ordering::Release);
        let mut slot = self.fut.lock().unwrap_or_else(|p| p.into_inner());
        let Some(fut) = slot.as_mut() else {
            return true;
        };
        let waker = std::task::Waker::from(self.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        // Timers and sockets the future makes belong to midge's runtime.
        let _runtime = midge_native::runtime().enter();
        let std::task::Poll::Ready(convert) = fut.as_mut().poll(&mut cx) else {
            drop(slot);
            if let Some((watch, event_loop)) = &self.watch {
                watch.follow(py, self, event_loop.bind(py));
            }
            return false;
        };
        *slot = None;
        drop(slot);
        if let Some((watch, _)) = &self.watch {
            watch.finished(self);
        }
        let completion = Completion::of(py, self.target.clone_ref(py), convert(py));
        if let Err(err) = completion.complete(py) {
            err.write_unraisable(py, None);
        }
        true
    }
}

impl std::task::Wake for LoopTask {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        use std::sync::atomic::Ordering;
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        // A loop that is gone polls nothing more; the future is dropped
        // with the last waker.
        if let Some(wake) = self.wake.upgrade() {
            let task = self.clone();
            wake.push(Box::new(move |py| {
                task.poll(py);
            }));
        }
    }
}

/// The asyncio future's done callback for a [`LoopTask`]: cancelled (or
/// finished), its native future is dropped, on the loop's thread.
#[pyclass(frozen)]
struct CancelOnDone(Arc<LoopTask>);

#[pymethods]
impl CancelOnDone {
    fn __call__(&self, _future: &Bound<'_, PyAny>) {
        let fut = self.0.fut.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(fut);
    }
}

/// The wake-up of one event loop from tokio without the GIL: jobs queue
/// here, and the first one after a drain writes a byte to a socket pair
/// whose other end the loop watches; the loop then runs them all on its
/// thread ([`LoopDrain`]). One wake-up of the loop per batch, and none of
/// the completion thread.
pub(crate) struct LoopWake {
    jobs: Mutex<Vec<Job>>,
    /// A byte is on its way (or unread): later jobs need not write another.
    armed: std::sync::atomic::AtomicBool,
    #[cfg(unix)]
    reader: std::os::unix::net::UnixStream,
    #[cfg(unix)]
    writer: std::os::unix::net::UnixStream,
}

thread_local! {
    /// The [`LoopWake`] whose loop runs one of midge's reader callbacks on
    /// this thread now (see [`LoopWake::deferring`]).
    static IN_CALLBACK: std::cell::Cell<*const LoopWake> = const { std::cell::Cell::new(std::ptr::null()) };
    /// A job was queued for it during that callback.
    static DEFERRED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl LoopWake {
    fn push(&self, job: Job) {
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(job);
        if std::ptr::eq(IN_CALLBACK.get(), self) {
            // Its loop runs it as the callback returns: no byte, no wake-up.
            DEFERRED.set(true);
            return;
        }
        self.arm();
    }

    /// Runs `callback` (one of midge's reader callbacks, on the loop's
    /// thread), then, once, the jobs queued for this loop meanwhile. The
    /// callback's reads complete publishes and wake streams; those wake-ups
    /// used to write a byte to the loop's socket pair, so the loop woke
    /// itself for each. Jobs queued while the deferred ones run write their
    /// byte as before, so a step that stops after its share of reads still
    /// lets the loop run other work.
    fn deferring(&self, py: Python<'_>, callback: impl FnOnce()) {
        /// Restores the thread's marks; after a panic, hands the jobs
        /// left to the loop's drain.
        struct Scope<'a> {
            wake: &'a LoopWake,
            outer: *const LoopWake,
            outer_deferred: bool,
        }
        impl Drop for Scope<'_> {
            fn drop(&mut self) {
                IN_CALLBACK.set(self.outer);
                if DEFERRED.replace(self.outer_deferred) {
                    self.wake.arm();
                }
            }
        }
        let scope = Scope {
            wake: self,
            outer: IN_CALLBACK.replace(self as *const LoopWake),
            outer_deferred: DEFERRED.replace(false),
        };
        callback();
        let deferred = DEFERRED.replace(false);
        drop(scope);
        if deferred {
            self.run_jobs(py);
        }
    }

    /// Wake the loop for the jobs queued (a byte, unless one is on its way).
    fn arm(&self) {
        use std::sync::atomic::Ordering;
        if !self.armed.swap(true, Ordering::AcqRel) {
            #[cfg(unix)]
            {
                use std::io::Write;
                // Full (the loop is gone or far behind): a byte is there.
                let _ = (&self.writer).write(&[1]);
            }
        }
    }

    /// Runs the jobs queued now; on the loop's thread.
    fn run_jobs(&self, py: Python<'_>) {
        let jobs = std::mem::take(&mut *self.jobs.lock().unwrap_or_else(|p| p.into_inner()));
        for job in jobs {
            job(py);
        }
    }

    /// Runs every queued job; on the loop's thread.
    fn drain(&self, py: Python<'_>) {
        use std::sync::atomic::Ordering;
        #[cfg(unix)]
        {
            use std::io::Read;
            // A read that does not fill the buffer emptied the socket: no
            // second read to hear so (one system call less per wake-up).
            let mut bytes = [0u8; 64];
            while matches!((&self.reader).read(&mut bytes), Ok(n) if n == bytes.len()) {}
        }
        // Cleared after the read and before the take: a job pushed after
        // the take finds it clear and writes a byte, so none is left behind.
        self.armed.store(false, Ordering::Release);
        self.run_jobs(py);
    }
}

/// The loop's reader callback for a [`LoopWake`] (`None`: this loop cannot
/// watch descriptors, its futures go through the completion thread).
#[pyclass(frozen)]
struct LoopDrain(Option<Arc<LoopWake>>);

#[pymethods]
impl LoopDrain {
    fn __call__(&self, py: Python<'_>) {
        if let Some(wake) = &self.0 {
            wake.deferring(py, || wake.drain(py));
        }
    }
}

/// The [`LoopWake`] of `event_loop`, made and registered with `add_reader`
/// on first use; kept in a `WeakKeyDictionary`, so it goes with the loop.
fn loop_wake(event_loop: &Bound<'_, PyAny>) -> Option<Arc<LoopWake>> {
    static WAKES: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let py = event_loop.py();
    let wakes = WAKES
        .get_or_try_init(py, || -> PyResult<Py<PyAny>> {
            Ok(py
                .import("weakref")?
                .getattr("WeakKeyDictionary")?
                .call0()?
                .unbind())
        })
        .ok()?
        .bind(py);
    if let Ok(found) = wakes.call_method1(intern!(py, "get"), (event_loop,)) {
        if let Ok(drain) = found.cast::<LoopDrain>() {
            return drain.get().0.clone();
        }
    }
    let wake = register_wake(event_loop);
    let drain = LoopDrain(wake.clone());
    if wakes.set_item(event_loop, drain).is_err() {
        // Not weakly referenceable: no registration that could outlive it.
        #[cfg(unix)]
        if let Some(wake) = &wake {
            use std::os::fd::AsRawFd;
            let _ = event_loop.call_method1("remove_reader", (wake.reader.as_raw_fd(),));
        }
        return None;
    }
    wake
}

/// A socket pair watched by `event_loop`; `None` where the loop cannot
/// watch descriptors.
#[cfg(unix)]
fn register_wake(event_loop: &Bound<'_, PyAny>) -> Option<Arc<LoopWake>> {
    use std::os::fd::AsRawFd;
    let (reader, writer) = std::os::unix::net::UnixStream::pair().ok()?;
    reader.set_nonblocking(true).ok()?;
    writer.set_nonblocking(true).ok()?;
    let wake = Arc::new(LoopWake {
        jobs: Mutex::new(Vec::new()),
        armed: std::sync::atomic::AtomicBool::new(false),
        reader,
        writer,
    });
    let fd = wake.reader.as_raw_fd();
    event_loop
        .call_method1("add_reader", (fd, LoopDrain(Some(wake.clone()))))
        .ok()?;
    Some(wake)
}

#[cfg(not(unix))]
fn register_wake(_event_loop: &Bound<'_, PyAny>) -> Option<Arc<LoopWake>> {
    None
}

/// Work that completes an asyncio future, run attached to the interpreter.
pub(crate) type Job = Box<dyn for<'py> FnOnce(Python<'py>) + Send>;

/// Hand `job` to the completion thread: one thread for every client, which
/// runs all the jobs waiting under one attach to the interpreter. (A
/// blocking tokio thread per completion piled up threads, each with its
/// own malloc arena, when thousands of clients connected at once: about 2
/// KiB of memory per connection that never came back.) No tokio worker
/// waits for the GIL.
pub(crate) fn complete_later(job: Job) {
    static JOBS: std::sync::OnceLock<Mutex<std::sync::mpsc::Sender<Job>>> =
        std::sync::OnceLock::new();
    let jobs = JOBS.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        // Without the thread (spawn failed), jobs are dropped with the
        // channel, as after the atexit hook.
        let _ = std::thread::Builder::new()
            .name("midge-asyncio".into())
            .spawn(move || {
                let run = move || {
                    while let Ok(first) = rx.recv() {
                        let mut batch = vec![first];
                        batch.extend(rx.try_iter().take(1023));
                        // `None` after the atexit hook: the jobs are dropped.
                        attach(|py| {
                            batch.drain(..).for_each(|job| job(py));
                            hand_over_ready(py);
                        });
                    }
                };
                // Attached once for the thread's life and detached at once:
                // each batch above then takes the GIL with this thread state
                // instead of CPython making and freeing one per batch (a
                // frame stack mapped and unmapped, the unmap stopping the
                // other cores to flush their TLBs). Not counted by the gate:
                // detached, the thread is not inside Python. It never
                // re-attaches: the loop ends only with the channel, which
                // lives as long as the process.
                let _ = Python::try_attach(|py| py.detach(run));
            });
        Mutex::new(tx)
    });
    let _ = jobs.lock().unwrap_or_else(|p| p.into_inner()).send(job);
}

thread_local! {
    /// Completions the current batch of jobs made, with their event loops.
    static READY: std::cell::RefCell<Vec<(Py<PyAny>, Completion)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Hands the completions of a batch to their event loops: one
/// `call_soon_threadsafe` per loop for the whole batch, so that a loop
/// wakes once (one write to its self-pipe) rather than once per future.
fn hand_over_ready(py: Python<'_>) {
    let ready = READY.with_borrow_mut(std::mem::take);
    let mut by_loop: Vec<(Py<PyAny>, Vec<Completion>)> = Vec::new();
    for (event_loop, completion) in ready {
        match by_loop.iter_mut().find(|(l, _)| l.is(&event_loop)) {
            Some((_, list)) => list.push(completion),
            None => by_loop.push((event_loop, vec![completion])),
        }
    }
    for (event_loop, completions) in by_loop {
        let batch = Completions(Mutex::new(completions));
        // A closed loop (asyncio.run returned) has nobody to tell.
        let _ = event_loop
            .bind(py)
            .call_method1(intern!(py, "call_soon_threadsafe"), (batch,));
    }
}

/// The asyncio future's done callback: stops the task that drives it.
#[pyclass(frozen)]
struct OnDone(Mutex<Option<oneshot::Sender<()>>>);

#[pymethods]
impl OnDone {
    fn __call__(&self, _future: &Bound<'_, PyAny>) {
        let sender = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(sender) = sender {
            let _ = sender.send(());
        }
    }
}

/// Completions for one event loop, run in order on the loop's thread.
#[pyclass(frozen)]
struct Completions(Mutex<Vec<Completion>>);

#[pymethods]
impl Completions {
    fn __call__(&self, py: Python<'_>) {
        let completions = std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()));
        for completion in completions {
            // As asyncio does with a callback that raises: report it and go
            // on with the others.
            if let Err(err) = completion.complete(py) {
                err.write_unraisable(py, None);
            }
        }
    }
}

/// Sets the asyncio future's result or exception, on the loop's thread,
/// unless it was cancelled in the meantime.
struct Completion {
    target: Py<PyAny>,
    value: Py<PyAny>,
    ok: bool,
}

impl Completion {
    fn of(py: Python<'_>, target: Py<PyAny>, result: PyResult<Py<PyAny>>) -> Completion {
        match result {
            Ok(value) => Completion {
                target,
                value,
                ok: true,
            },
            Err(err) => Completion {
                target,
                value: err.into_value(py).into_any(),
                ok: false,
            },
        }
    }

    fn complete(&self, py: Python<'_>) -> PyResult<()> {
        let target = self.target.bind(py);
        if target.call_method0(intern!(py, "done"))?.is_truthy()? {
            return Ok(());
        }
        let method = if self.ok {
            intern!(py, "set_result")
        } else {
            intern!(py, "set_exception")
        };
        target.call_method1(method, (self.value.clone_ref(py),))?;
        Ok(())
    }
}

/// Runs [`midge_native::NativeClient::flush`] when the running loop turns:
/// the publishes made before then go out in one write.
pub(crate) fn flush_on_loop(py: Python<'_>, native: &midge_native::NativeClient) {
    let scheduled = pyo3_async_runtimes::get_running_loop(py)
        .and_then(|l| l.call_method1(intern!(py, "call_soon"), (Flush(native.clone()),)));
    if scheduled.is_err() {
        // No loop to run it: write now.
        native.flush();
    }
}

/// The loop callback of [`flush_on_loop`].
#[pyclass(frozen)]
struct Flush(midge_native::NativeClient);

#[pymethods]
impl Flush {
    fn __call__(&self) {
        self.0.flush();
    }
}

/// A socket the event loop watches for one stream's reader (see
/// `midge_native::LoopReader`): registered with `add_reader` while the client
/// hands the socket to the stream, the loop reads it whenever it is
/// readable. A future that waits for messages is polled (it takes them from
/// the stream, reading the socket itself through
/// `midge_native::MessageStream::recv_step`); with no future waiting (the
/// consumer is busy) the loop still reads, and the messages wait in the
/// stream. So the client may leave the socket to the loop while publishes
/// wait for their acknowledgements: the reads complete them, on the loop's
/// thread. A steady stream costs no registration per message; the
/// registration goes when the client takes the socket back (it then reads
/// it itself, and wakes the watch when it hands it over again).
#[cfg(unix)]
pub(crate) struct SocketWatch {
    state: Mutex<WatchState>,
    reader: midge_native::LoopReader,
    /// Its futures run on a loop that can watch sockets (a [`LoopTask`]).
    usable: std::sync::atomic::AtomicBool,
    /// The client was told that a loop watches the socket.
    watching: std::sync::atomic::AtomicBool,
    /// A step is queued on the loop: more wakes need not queue another.
    queued: std::sync::atomic::AtomicBool,
}

/// The event loop a watch reads on: the loop, the waker the client wakes
/// for it, the thread that runs it, and its [`LoopWake`].
#[cfg(unix)]
type LoopOn = (
    Py<PyAny>,
    std::task::Waker,
    std::thread::ThreadId,
    std::sync::Weak<LoopWake>,
);

#[cfg(unix)]
#[derive(Default)]
struct WatchState {
    /// What the last poll of a future asked to watch.
    wanted: Option<(std::os::fd::RawFd, u64)>,
    /// What the loop watches now, and which loop.
    registered: Option<(std::os::fd::RawFd, u64, Py<PyAny>)>,
    /// The future waiting for messages.
    task: Option<std::sync::Weak<LoopTask>>,
    /// The loop that reads (the client and the stream wake its waker).
    event_loop: Option<LoopOn>,
    /// The read buffer of reads with no future waiting (out while a step
    /// reads).
    buf: Vec<u8>,
}

/// Reads per step at most before the step lets the loop run other work.
#[cfg(unix)]
const READS_PER_STEP: usize = 64;

#[cfg(unix)]
impl SocketWatch {
    pub(crate) fn new(reader: midge_native::LoopReader) -> Arc<SocketWatch> {
        Arc::new(SocketWatch {
            state: Mutex::new(WatchState::default()),
            reader,
            usable: std::sync::atomic::AtomicBool::new(false),
            watching: std::sync::atomic::AtomicBool::new(false),
            queued: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Whether a future may ask for the socket: only one its loop polls.
    pub(crate) fn usable(&self) -> bool {
        self.usable.load(std::sync::atomic::Ordering::Acquire)
    }

    fn state(&self) -> MutexGuard<'_, WatchState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A receive is made on `event_loop` (the running one): the waker its
    /// future gives the stream, which runs a step of this watch there (none
    /// if the loop cannot run one).
    pub(crate) fn bind(
        self: &Arc<Self>,
        event_loop: &Bound<'_, PyAny>,
    ) -> Option<std::task::Waker> {
        {
            let state = self.state();
            if let Some((l, waker, _, _)) = &state.event_loop {
                if l.is(event_loop) {
                    return Some(waker.clone());
                }
            }
        }
        // Python is called without the state's lock held.
        let wake = loop_wake(event_loop)?;
        let waker = StepWaker::waker(self, &wake);
        self.state().event_loop = Some((
            event_loop.clone().unbind(),
            waker.clone(),
            std::thread::current().id(),
            Arc::downgrade(&wake),
        ));
        Some(waker)
    }

    /// A receive on `event_loop` (the running one) found messages waiting:
    /// unless a loop watches already, watch from now on and ask the client
    /// for the socket, so that the loop reads the next ones itself (the
    /// receives that find them waiting never ask).
    pub(crate) fn start(self: &Arc<Self>, event_loop: &Bound<'_, PyAny>) {
        if self.watching.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        if let Some(waker) = self.bind(event_loop) {
            self.usable
                .store(true, std::sync::atomic::Ordering::Release);
            self.watching();
            self.reader.ask(&waker);
        }
    }

    /// Whether the client was told that a loop watches (one atomic load).
    pub(crate) fn is_watching(&self) -> bool {
        self.watching.load(std::sync::atomic::Ordering::Acquire)
    }

    /// A QoS 1/2 publish is awaited on `event_loop`: if that is not the
    /// loop that watches the socket (the stream is read elsewhere, or its
    /// loop has ended), the client reads the acknowledgements itself until
    /// a receive on a loop watches again.
    pub(crate) fn awaited_on(&self, event_loop: &Bound<'_, PyAny>) {
        if !self.is_watching() {
            return;
        }
        let elsewhere = !self
            .state()
            .event_loop
            .as_ref()
            .is_some_and(|(l, _, _, _)| l.is(event_loop));
        if elsewhere
            && self
                .watching
                .swap(false, std::sync::atomic::Ordering::AcqRel)
        {
            self.reader.watch(false);
        }
    }

    /// A future of this loop waits for the stream: tell the client that a
    /// loop watches the socket (once).
    pub(crate) fn watching(&self) {
        if !self
            .watching
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            self.reader.watch(true);
        }
    }

    /// Called by the future's poll: the socket to watch, or none.
    pub(crate) fn want(&self, socket: Option<(std::os::fd::RawFd, u64)>) {
        self.state().wanted = socket;
    }

    /// After a poll of `task` that left it waiting: watch what it asked for.
    fn follow(
        self: &Arc<Self>,
        py: Python<'_>,
        task: &Arc<LoopTask>,
        event_loop: &Bound<'_, PyAny>,
    ) {
        let wanted = {
            let mut state = self.state();
            state.task = Some(Arc::downgrade(task));
            state.wanted
        };
        self.register(py, event_loop, wanted);
    }

    /// Watch `wanted` on `event_loop` (nothing if none).
    fn register(
        self: &Arc<Self>,
        py: Python<'_>,
        event_loop: &Bound<'_, PyAny>,
        wanted: Option<(std::os::fd::RawFd, u64)>,
    ) {
        let old = {
            let mut state = self.state();
            let same = match (&state.registered, wanted) {
                (Some((f, h, l)), Some((fd, handover))) => {
                    *f == fd && *h == handover && l.is(event_loop)
                }
                (None, None) => true,
                _ => false,
            };
            if same {
                return;
            }
            state.registered.take()
        };
        if let Some((old_fd, _, old_loop)) = old {
            let _ = old_loop
                .bind(py)
                .call_method1(intern!(py, "remove_reader"), (old_fd,));
        }
        let Some((fd, handover)) = wanted else {
            return;
        };
        // A new handover: the descriptor may be another connection's by now,
        // so the registration is made afresh.
        if event_loop
            .call_method1(intern!(py, "add_reader"), (fd, SocketReady(self.clone())))
            .is_ok()
        {
            self.state().registered = Some((fd, handover, event_loop.clone().unbind()));
        } else {
            // Nothing watches the socket: the client reads it.
            self.reader.pause();
        }
    }

    /// `task` finished: nothing waits for messages until the next future.
    fn finished(&self, task: &Arc<LoopTask>) {
        let mut state = self.state();
        if state
            .task
            .as_ref()
            .is_some_and(|t| std::ptr::eq(t.as_ptr(), Arc::as_ptr(task)))
        {
            state.task = None;
        }
    }

    /// The socket is readable, or the client or the stream woke the watch:
    /// watch the socket the stream holds now (a future may take messages
    /// from the stream without reading, so its poll alone would not
    /// follow a handover), then poll the future that waits (it reads), or
    /// with none waiting read for the stream.
    fn on_ready(self: &Arc<Self>, py: Python<'_>) {
        self.queued
            .store(false, std::sync::atomic::Ordering::Release);
        let (task, bound) = {
            let state = self.state();
            let task = state.task.as_ref().and_then(std::sync::Weak::upgrade);
            let bound = state
                .event_loop
                .as_ref()
                .filter(|(_, _, thread, _)| *thread == std::thread::current().id())
                .map(|(l, waker, _, _)| (l.clone_ref(py), waker.clone()));
            (task, bound)
        };
        if let Some((event_loop, waker)) = bound {
            let held = self.reader.held(&waker);
            self.register(py, event_loop.bind(py), held);
            if task.is_none() && held.is_some() {
                self.step(py);
            }
        }
        if let Some(task) = task {
            if task.poll(py) {
                self.finished(&task);
            }
        }
    }

    /// Reads what the socket has with no future waiting (the messages wait
    /// in the stream, the acknowledgements complete their publishes), then
    /// watches it or stops watching, as the client says. On the loop's
    /// thread.
    fn step(self: &Arc<Self>, py: Python<'_>) {
        use midge_native::InlineRead;
        let (mut buf, event_loop, waker) = {
            let mut state = self.state();
            let Some((event_loop, waker, thread, _)) = &state.event_loop else {
                return;
            };
            // Only the loop's own thread registers with it (a callback of a
            // loop left behind may still run on its thread).
            if *thread != std::thread::current().id() {
                return;
            }
            let (event_loop, waker) = (event_loop.clone_ref(py), waker.clone());
            (std::mem::take(&mut state.buf), event_loop, waker)
        };
        // Not under the state's lock: the client wakes the waker under its
        // own, which a read takes.
        let mut reads = 0;
        let wanted = loop {
            match self.reader.read(&mut buf, &waker) {
                InlineRead::Read if reads < READS_PER_STEP => reads += 1,
                InlineRead::Read => {
                    // More keeps coming: the rest on the loop's next turn.
                    waker.wake_by_ref();
                    break self.state().registered.as_ref().map(|(f, h, _)| (*f, *h));
                }
                InlineRead::Wait { socket, handover } => break Some((socket, handover)),
                InlineRead::Unavailable => break None,
            }
        };
        self.state().buf = buf;
        self.register(py, event_loop.bind(py), wanted);
    }

    /// Stop watching (the stream closed: `close()`, or the iterator's
    /// `__del__`, which may run on another thread than the loop's).
    pub(crate) fn stop(&self, py: Python<'_>) {
        let registered = {
            let mut state = self.state();
            state.task = None;
            state.wanted = None;
            state.registered.take()
        };
        if self
            .watching
            .swap(false, std::sync::atomic::Ordering::AcqRel)
        {
            self.reader.watch(false);
        }
        if let Some((fd, _, event_loop)) = registered {
            remove_reader_soon(py, event_loop.bind(py), fd);
        }
    }
}

/// Runs a watch's reader callback, deferring the jobs it queues for its
/// loop (`wake`, the watch's [`LoopOn`]) to its end (see
/// [`LoopWake::deferring`]).
#[cfg(unix)]
fn run_deferring(py: Python<'_>, wake: Option<std::sync::Weak<LoopWake>>, callback: impl FnOnce()) {
    match wake.as_ref().and_then(std::sync::Weak::upgrade) {
        Some(wake) => wake.deferring(py, callback),
        None => callback(),
    }
}

/// The loop's reader callback of a [`SocketWatch`].
#[cfg(unix)]
#[pyclass(frozen)]
struct SocketReady(Arc<SocketWatch>);

#[cfg(unix)]
#[pymethods]
impl SocketReady {
    fn __call__(&self, py: Python<'_>) {
        let on = self.0.state().event_loop.as_ref().map(|on| on.3.clone());
        run_deferring(py, on, || self.0.on_ready(py));
    }
}

/// A watch whose steps run on its event loop ([`SocketWatch`],
/// [`AckWatch`]): what the client wakes is a [`StepWaker`] of it.
#[cfg(unix)]
trait LoopStep: Send + Sync + 'static {
    /// A step is queued on the loop: more wakes need not queue another.
    fn queued(&self) -> &std::sync::atomic::AtomicBool;
    /// One step, on the loop's thread.
    fn run(self: Arc<Self>, py: Python<'_>);
}

#[cfg(unix)]
impl LoopStep for SocketWatch {
    fn queued(&self) -> &std::sync::atomic::AtomicBool {
        &self.queued
    }
    fn run(self: Arc<Self>, py: Python<'_>) {
        self.on_ready(py);
    }
}

/// What the client (and a stream) wake for a [`LoopStep`] watch: a step on
/// its loop. Holds the watch weakly (the client keeps the waker, and must
/// not keep itself alive).
#[cfg(unix)]
struct StepWaker<W> {
    watch: std::sync::Weak<W>,
    wake: std::sync::Weak<LoopWake>,
}

#[cfg(unix)]
impl<W: LoopStep> StepWaker<W> {
    fn waker(watch: &Arc<W>, wake: &Arc<LoopWake>) -> std::task::Waker {
        std::task::Waker::from(Arc::new(StepWaker {
            watch: Arc::downgrade(watch),
            wake: Arc::downgrade(wake),
        }))
    }
}

#[cfg(unix)]
impl<W: LoopStep> std::task::Wake for StepWaker<W> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let (Some(watch), Some(wake)) = (self.watch.upgrade(), self.wake.upgrade()) else {
            return;
        };
        if watch
            .queued()
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            return;
        }
        wake.push(Box::new(move |py| watch.run(py)));
    }
}

/// Where no loop watches sockets for a reader: the futures wait for their
/// stream.
#[cfg(not(unix))]
pub(crate) struct SocketWatch;

#[cfg(not(unix))]
impl SocketWatch {
    pub(crate) fn new(_reader: midge_native::LoopReader) -> Arc<SocketWatch> {
        Arc::new(SocketWatch)
    }
    pub(crate) fn want(&self, _socket: Option<(i32, u64)>) {}
    pub(crate) fn usable(&self) -> bool {
        false
    }
    pub(crate) fn bind(
        self: &Arc<Self>,
        _event_loop: &Bound<'_, PyAny>,
    ) -> Option<std::task::Waker> {
        None
    }
    pub(crate) fn watching(&self) {}
    pub(crate) fn start(self: &Arc<Self>, _event_loop: &Bound<'_, PyAny>) {}
    pub(crate) fn is_watching(&self) -> bool {
        true
    }
    fn follow(
        self: &Arc<Self>,
        _py: Python<'_>,
        _task: &Arc<LoopTask>,
        _event_loop: &Bound<'_, PyAny>,
    ) {
    }
    fn finished(&self, _task: &Arc<LoopTask>) {}
    pub(crate) fn stop(&self, _py: Python<'_>) {}
}

/// Reads a client's socket on the event loop that waits for its publishes
/// (see `midge_native::NativeClient::read_acknowledgements`): an
/// `AsyncClient` publisher's acknowledgements complete its publishes on the
/// loop's own thread, without a wake-up of midge's runtime thread. Started
/// by the first QoS 1/2 publish made on a loop; from then on the loop
/// watches the socket whenever the client hands it over (the client wakes
/// its [`StepWaker`] when it does, and when it takes it back), and moves to the
/// loop of a later publish if that is another one.
#[cfg(unix)]
pub(crate) struct AckWatch {
    native: midge_native::NativeClient,
    state: Mutex<AckState>,
    /// A step is queued on the loop: more wakes need not queue another.
    queued: std::sync::atomic::AtomicBool,
}

#[cfg(unix)]
#[derive(Default)]
struct AckState {
    /// The read buffer (out while a step reads).
    buf: Vec<u8>,
    /// The loop that reads (the client wakes its waker).
    event_loop: Option<LoopOn>,
    /// The socket (and handover) that loop watches now.
    registered: Option<(std::os::fd::RawFd, u64)>,
    /// The client has a message stream: its reader watches the socket
    /// (one registration per descriptor and loop), so this one never does
    /// again.
    disabled: bool,
    /// The watch of that stream's reader (the latest stream's).
    stream: Option<std::sync::Weak<SocketWatch>>,
}

/// Reads per step at most before the step lets the loop run other work.
#[cfg(unix)]
const ACK_READS_PER_STEP: usize = 64;

#[cfg(unix)]
impl AckWatch {
    pub(crate) fn new(native: midge_native::NativeClient) -> Arc<AckWatch> {
        Arc::new(AckWatch {
            native,
            state: Mutex::new(AckState::default()),
            queued: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn state(&self) -> MutexGuard<'_, AckState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// [`AckWatch::start`] on the running loop, unless a loop watches the
    /// socket already (one lock, no asking for the loop: on Python 3.11 that
    /// costs a system call).
    pub(crate) fn start_on_running_loop(self: &Arc<Self>, py: Python<'_>) {
        {
            let state = self.state();
            if state.registered.is_some() || state.disabled {
                return;
            }
        }
        if let Ok(event_loop) = pyo3_async_runtimes::get_running_loop(py) {
            self.start(py, &event_loop);
        }
    }

    /// A QoS 1/2 publish is awaited on `event_loop` (the running one): read
    /// its acknowledgement there if the client lets it.
    pub(crate) fn start(self: &Arc<Self>, py: Python<'_>, event_loop: &Bound<'_, PyAny>) {
        let same = {
            let state = self.state();
            if state.disabled {
                let stream = state.stream.as_ref().and_then(std::sync::Weak::upgrade);
                drop(state);
                if let Some(stream) = stream {
                    stream.awaited_on(event_loop);
                }
                return;
            }
            let same = state
                .event_loop
                .as_ref()
                .is_some_and(|(l, _, _, _)| l.is(event_loop));
            if same && state.registered.is_some() {
                // Watching already: the common case, one lock per publish.
                return;
            }
            same
        };
        if !same {
            // Python is called without the state's lock held: it may hand
            // the GIL to a thread that waits for that lock.
            let Some(wake) = loop_wake(event_loop) else {
                return;
            };
            let waker = StepWaker::waker(self, &wake);
            let loop_now = (
                event_loop.clone().unbind(),
                waker,
                std::thread::current().id(),
                Arc::downgrade(&wake),
            );
            let old = {
                let mut state = self.state();
                let old_loop = state.event_loop.replace(loop_now).map(|(l, _, _, _)| l);
                state.registered.take().zip(old_loop)
            };
            if let Some(((fd, _), old_loop)) = old {
                remove_reader_soon(py, old_loop.bind(py), fd);
            }
        }
        self.step(py);
    }

    /// Reads what the socket has (completing publishes), then watches it or
    /// stops watching, as the client says. On the loop's thread.
    fn step(self: &Arc<Self>, py: Python<'_>) {
        use midge_native::InlineRead;
        self.queued
            .store(false, std::sync::atomic::Ordering::Release);
        let (mut buf, event_loop, waker) = {
            let mut state = self.state();
            let Some((event_loop, waker, thread, _)) = &state.event_loop else {
                return;
            };
            // Only the loop's own thread registers with it (a callback of a
            // loop left behind may still run on its thread).
            if state.disabled || *thread != std::thread::current().id() {
                return;
            }
            let (event_loop, waker) = (event_loop.clone_ref(py), waker.clone());
            (std::mem::take(&mut state.buf), event_loop, waker)
        };
        // Not under the state's lock: the client wakes the waker under its
        // own, which a read takes.
        let mut wanted = None;
        let mut reads = 0;
        loop {
            match self.native.read_acknowledgements(&mut buf, &waker) {
                InlineRead::Read if reads < ACK_READS_PER_STEP => reads += 1,
                InlineRead::Read => {
                    // More keeps coming: the rest on the loop's next turn.
                    waker.wake_by_ref();
                    wanted = self.state().registered;
                    break;
                }
                InlineRead::Wait { socket, handover } => {
                    wanted = Some((socket, handover));
                    break;
                }
                InlineRead::Unavailable => break,
            }
        }
        let old = {
            let mut state = self.state();
            state.buf = buf;
            // Disabled meanwhile (by a callback of this loop): stop, not watch.
            let wanted = if state.disabled { None } else { wanted };
            if state.registered == wanted {
                return;
            }
            std::mem::replace(&mut state.registered, wanted)
        };
        let event_loop = event_loop.bind(py);
        if let Some((fd, _)) = old {
            let _ = event_loop.call_method1(intern!(py, "remove_reader"), (fd,));
        }
        // A new handover: the descriptor may be another connection's by now,
        // so the registration is made afresh.
        if let Some((fd, _)) = wanted {
            let ready = AckReady {
                watch: Arc::downgrade(self),
                fd,
                event_loop: event_loop.clone().unbind(),
            };
            if event_loop
                .call_method1(intern!(py, "add_reader"), (fd, ready))
                .is_err()
            {
                self.state().registered = None;
            }
        }
    }
}

#[cfg(unix)]
impl Drop for AckWatch {
    /// The client is gone (dropped without a disconnect): its loop stops
    /// watching the socket on its next turn. Left registered, the closed
    /// descriptor's number would stay in the loop's map, and a socket that
    /// gets the number next would never be watched.
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        let (Some((fd, _)), Some((event_loop, _, _, _))) =
            (state.registered.take(), state.event_loop.take())
        else {
            return;
        };
        // Possibly on another thread than the loop's (the last reference may
        // go anywhere).
        attach(|py| remove_reader_soon(py, event_loop.bind(py), fd));
    }
}

#[cfg(unix)]
impl LoopStep for AckWatch {
    fn queued(&self) -> &std::sync::atomic::AtomicBool {
        &self.queued
    }
    fn run(self: Arc<Self>, py: Python<'_>) {
        self.step(py);
    }
}

#[cfg(unix)]
impl AckWatch {
    /// The client made a message stream: stop watching for good (its
    /// reader, `stream`, takes the socket; see [`AckState::disabled`]).
    pub(crate) fn disable(&self, py: Python<'_>, stream: &Arc<SocketWatch>) {
        let registered = {
            let mut state = self.state();
            state.disabled = true;
            state.stream = Some(Arc::downgrade(stream));
            state.registered.take().zip(
                state
                    .event_loop
                    .as_ref()
                    .map(|(l, _, _, _)| l.clone_ref(py)),
            )
        };
        if let Some(((fd, _), event_loop)) = registered {
            remove_reader_soon(py, event_loop.bind(py), fd);
        }
    }
}

/// Stop `event_loop` watching `fd`: at once when called on that loop's
/// thread (before anything else there can register the descriptor anew),
/// otherwise through its thread-safe scheduling, on its next turn.
#[cfg(unix)]
fn remove_reader_soon(py: Python<'_>, event_loop: &Bound<'_, PyAny>, fd: std::os::fd::RawFd) {
    let running = pyo3_async_runtimes::get_running_loop(py).is_ok_and(|l| l.is(event_loop));
    if running {
        let _ = event_loop.call_method1(intern!(py, "remove_reader"), (fd,));
    } else if let Ok(remove) = event_loop.getattr(intern!(py, "remove_reader")) {
        let _ = event_loop.call_method1(intern!(py, "call_soon_threadsafe"), (remove, fd));
    }
}

/// The loop's reader callback of an [`AckWatch`].
#[cfg(unix)]
#[pyclass(frozen)]
struct AckReady {
    watch: std::sync::Weak<AckWatch>,
    fd: std::os::fd::RawFd,
    event_loop: Py<PyAny>,
}

#[cfg(unix)]
#[pymethods]
impl AckReady {
    fn __call__(&self, py: Python<'_>) {
        match self.watch.upgrade() {
            Some(watch) => {
                let on = watch.state().event_loop.as_ref().map(|on| on.3.clone());
                run_deferring(py, on, || watch.step(py));
            }
            // The client is gone: nothing reads for it any more.
            None => {
                let _ = self
                    .event_loop
                    .bind(py)
                    .call_method1(intern!(py, "remove_reader"), (self.fd,));
            }
        }
    }
}

/// Where no loop watches sockets: acknowledgements go through the client.
#[cfg(not(unix))]
pub(crate) struct AckWatch;

#[cfg(not(unix))]
impl AckWatch {
    pub(crate) fn new(_native: midge_native::NativeClient) -> Arc<AckWatch> {
        Arc::new(AckWatch)
    }
    pub(crate) fn start(self: &Arc<Self>, _py: Python<'_>, _event_loop: &Bound<'_, PyAny>) {}
    pub(crate) fn start_on_running_loop(self: &Arc<Self>, _py: Python<'_>) {}
    pub(crate) fn disable(&self, _py: Python<'_>, _stream: &Arc<SocketWatch>) {}
}
