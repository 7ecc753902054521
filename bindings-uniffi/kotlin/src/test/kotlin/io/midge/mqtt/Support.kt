package io.midge.mqtt

import java.util.concurrent.atomic.AtomicInteger
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.withTimeout

private val ids = AtomicInteger()

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
