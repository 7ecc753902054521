package io.midge.mqtt

import java.io.File
import java.net.ServerSocket
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.async
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestFactory

/**
 * The shared lifecycle scenarios (tests/scenarios/lifecycle.tsv), one
 * dynamic test per row, through the Kotlin API. Python and npm run the same
 * list; an id with no implementation here fails.
 */
class ScenarioTest : BrokerTest() {
    private data class Row(val id: String, val expected: String, val description: String)

    private fun rows(): List<Row> {
        // Surefire runs in bindings-uniffi/kotlin.
        val file = File(System.getProperty("user.dir"), "../../tests/scenarios/lifecycle.tsv")
        return file.readLines()
            .filter { it.isNotBlank() && !it.startsWith("#") }
            .map { line -> line.split("\t").let { Row(it[0], it[1], it[2]) } }
    }

    /**
     * What the application saw, in the scenario vocabulary: interrupted
     * work has its own `Interrupted`; a closed client and a stopped connect
     * are both `Closed`, told apart by the details (core/SEMANTICS.md).
     */
    private fun outcomeOf(e: MqttException): String = when (e) {
        is MqttException.Interrupted -> "interrupted"
        is MqttException.Closed -> when {
            "is closed" in e.details -> "closed"
            "disconnected by the client" in e.details -> "stopped"
            else -> "unexpected Closed: ${e.details}"
        }
        is MqttException.Transport -> "transport"
        else -> "unexpected $e"
    }

    private suspend fun outcome(block: suspend () -> Unit): String = try {
        block()
        "ok"
    } catch (e: MqttException) {
        outcomeOf(e)
    }

    private suspend fun closedClient(): MqttClient = MqttClient(testOptions(broker)).also {
        it.connect()
        it.disconnect()
    }

    private fun deadUrl(): String = "mqtt://127.0.0.1:${ServerSocket(0).use { it.localPort }}"

    /** A client whose broker is unreachable and that retries its first connection quickly. */
    private fun offlineClient(): MqttClient = MqttClient(
        MqttOptions(
            url = deadUrl(),
            clientId = uniqueId("scn"),
            reconnectOnInitialFailure = true,
            reconnectMinDelayMs = 20u,
            reconnectMaxDelayMs = 40u,
        ),
    )

    // An UNDISPATCHED coroutine runs until its first suspension, which comes
    // after the command reached the driver: no sleeping to get it in flight.
    private fun CoroutineScope.started(block: suspend () -> Unit) =
        async(start = CoroutineStart.UNDISPATCHED) { outcome(block) }

    private val runners: Map<String, suspend CoroutineScope.() -> String> = mapOf(
        "publish-qos0-after-disconnect" to { closedClient().use { c -> outcome { c.publish("scn/t", "x", QoS.AT_MOST_ONCE) } } },
        "publish-qos1-after-disconnect" to { closedClient().use { c -> outcome { c.publish("scn/t", "x", QoS.AT_LEAST_ONCE) } } },
        "subscribe-after-disconnect" to { closedClient().use { c -> outcome { c.subscribe("scn/#", QoS.AT_LEAST_ONCE) } } },
        "queued-qos1-publish-at-disconnect" to {
            offlineClient().use { c ->
                val connecting = started { c.connect() }
                val pending = c.startPublish(Message(topic = "scn/q", payload = "x".encodeToByteArray(), qos = QoS.AT_LEAST_ONCE))
                c.disconnect()
                connecting.await()
                outcome { pending.result() }
            }
        },
        "queued-qos1-publish-before-connect" to {
            offlineClient().use { c ->
                val pending = c.startPublish(Message(topic = "scn/q", payload = "x".encodeToByteArray(), qos = QoS.AT_LEAST_ONCE))
                c.disconnect()
                outcome { pending.result() }
            }
        },
        "queued-subscribe-at-disconnect" to {
            offlineClient().use { c ->
                val connecting = started { c.connect() }
                val subscribing = started { c.subscribe("scn/#", QoS.AT_LEAST_ONCE) }
                c.disconnect()
                connecting.await()
                subscribing.await()
            }
        },
        "disconnect-while-retrying-first-connection" to {
            offlineClient().use { c ->
                val connecting = started { c.connect() }
                c.disconnect()
                connecting.await()
            }
        },
        "first-connection-refused" to {
            MqttClient(MqttOptions(url = deadUrl(), clientId = uniqueId("scn"))).use { c -> outcome { c.connect() } }
        },
        "retries-are-numbered" to {
            offlineClient().use { c ->
                val events = c.connectionEvents()
                val connecting = started { c.connect() }
                val attempts = (1..3).map { events.nextDisconnect()!!.attempt }
                c.disconnect()
                connecting.await()
                events.close()
                "attempts:" + attempts.joinToString(",")
            }
        },
        "graceful-disconnect" to {
            MqttClient(testOptions(broker)).use { watcher ->
                watcher.connect()
                val seen = watcher.messages("scn/graceful/#")
                watcher.subscribe("scn/graceful/#", QoS.AT_LEAST_ONCE)
                val id = uniqueId("scn-graceful")
                val options = testOptions(broker, id).copy(
                    will = Will(topic = "scn/graceful/will/$id", payload = "gone".encodeToByteArray(), qos = QoS.AT_LEAST_ONCE),
                )
                MqttClient(options).use { c ->
                    c.connect()
                    c.subscribe("scn/graceful/data/$id", QoS.AT_MOST_ONCE)
                    repeat(4) { c.startPublish(Message(topic = "scn/graceful/data/$id", payload = "d$it".encodeToByteArray(), qos = QoS.AT_MOST_ONCE)) }
                    c.disconnect()
                }
                watcher.publish("scn/graceful/marker/$id", "end", QoS.AT_LEAST_ONCE)
                var delivered = 0
                var will = 0
                while (true) {
                    val m = withTimeout(5_000) { seen.next() } ?: break
                    if (m.topic == "scn/graceful/marker/$id") break
                    if (m.topic == "scn/graceful/data/$id") delivered++
                    if (m.topic == "scn/graceful/will/$id") will++
                }
                seen.stop()
                seen.destroy()
                watcher.disconnect()
                "delivered:$delivered,will:$will"
            }
        },
    )

    @TestFactory
    fun scenarios(): List<DynamicTest> = rows().map { row ->
        DynamicTest.dynamicTest(row.id) {
            val runner = runners[row.id] ?: error("no Kotlin implementation of scenario ${row.id}: ${row.description}")
            runTest(30_000) { assertEquals(row.expected, runner(), row.description) }
        }
    }

    @Test
    fun `every implementation is in the list`() {
        assertTrue(rows().isNotEmpty())
        assertEquals(rows().map { it.id }.sorted(), runners.keys.sorted())
    }
}
