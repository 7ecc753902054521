package io.midge.mqtt

import java.io.File
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.withTimeout

private val ids = AtomicInteger()

/**
 * Run [main]'s `main` in a second JVM with this JVM's classpath and native
 * library path; returns (exit code, everything it printed, JNA's native
 * messages included). Fails the test if it does not exit within 60 s.
 */
fun runChildJvm(main: Class<*>, vararg args: String): Pair<Int, String> {
    val javaExe = File(System.getProperty("java.home"), "bin/java").path
    val process = ProcessBuilder(
        javaExe,
        "-cp",
        System.getProperty("java.class.path"),
        "-Djna.library.path=${System.getProperty("jna.library.path")}",
        main.name,
        *args,
    ).redirectErrorStream(true).start()
    val output = process.inputStream.bufferedReader().readText()
    check(process.waitFor(60, TimeUnit.SECONDS)) { "child JVM did not exit: $output" }
    return process.exitValue() to output
}

/** A client id unique within the test run. */
fun uniqueId(prefix: String): String = "$prefix-${ProcessHandle.current().pid()}-${ids.incrementAndGet()}"

/** Options for [broker] with quick reconnects, so that tests do not wait for the default backoff. */
fun testOptions(broker: Broker, clientId: String = uniqueId("t")): MqttOptions =
    MqttOptions(url = broker.url, clientId = clientId, reconnectMinDelayMs = 100u, reconnectMaxDelayMs = 500u)

/** Wait (at most [ms]) until the state flow shows [wanted]. */
suspend fun StateFlow<ConnectionState>.awaitState(wanted: ConnectionState, ms: Long = 10_000) {
    withTimeout(ms) { first { it == wanted } }
}

/**
 * Run a test body in a coroutine with an overall time limit. Returns Unit
 * whatever the body's last expression is (JUnit skips non-void methods).
 */
fun runTest(timeoutMs: Long = 60_000, block: suspend kotlinx.coroutines.CoroutineScope.() -> Unit) {
    kotlinx.coroutines.runBlocking { withTimeout(timeoutMs) { block() } }
}

/** Run [block] with the client's state as a StateFlow, watched by a scope that ends with the block. */
suspend fun <T> MqttClient.watchingState(block: suspend (StateFlow<ConnectionState>) -> T): T {
    val scope = kotlinx.coroutines.CoroutineScope(kotlinx.coroutines.Dispatchers.Default + kotlinx.coroutines.SupervisorJob())
    try {
        return block(connectionState(scope))
    } finally {
        scope.coroutineContext[kotlinx.coroutines.Job]?.cancel()
    }
}
