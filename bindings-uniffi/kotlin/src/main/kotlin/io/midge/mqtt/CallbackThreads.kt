// Calls from midge's threads into the JVM. JNA attaches a native thread to
// the JVM for each callback it makes from it and, by default, detaches it
// afterwards; the detach costs far more than the callback (the JVM walks its
// monitors for the leaving thread), and it came with every resumed
// coroutine and every listener call. The threads midge calls back from
// are its runtime's and its listeners' own, and live long: they stay
// attached, as daemon threads, so that they never keep the JVM from exiting
// (JNA detaches a thread when it ends). generate.sh makes each generated
// callback object call this before it is first handed to the library.
package io.midge.mqtt

import com.sun.jna.Callback
import com.sun.jna.CallbackThreadInitializer
import com.sun.jna.Native

private val stayAttached = CallbackThreadInitializer(true, false, "midge-callback")

internal fun keepCallbackThreadsAttached(callback: Callback) {
    Native.setCallbackThreadInitializer(callback, stayAttached)
}
