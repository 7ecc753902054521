package io.midge.mqtt

import java.io.File
import java.nio.file.Files
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import kotlinx.coroutines.async
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.flow.takeWhile
import kotlinx.coroutines.flow.toList
import org.junit.jupiter.api.Test

class DurableStoreTest {
    private val count = 5

    @Test
    fun `QoS 1 and 2 publishes made offline survive the process and are delivered, QoS 2 exactly once`() = runTest(120_000) {
        val dir = Files.createTempDirectory("midge-store").toFile()
        val store = File(dir, "session.bin")
        val clientId = uniqueId("offline")
        Broker().use { broker ->
            // Process 1: the broker is not running yet.
            val child = runChild(broker.url, store.path, clientId)
            assertTrue(store.exists(), "the child left no session file")

            broker.start()
            MqttClient(testOptions(broker)).use { sub ->
                val received = sub.messageFlow("offline/#")
                sub.connect()
                sub.subscribe("offline/#", QoS.EXACTLY_ONCE)
                // Process 2 (this JVM): same store path and client id.
                val options = MqttOptions(
                    url = broker.url,
                    clientId = clientId,
                    cleanStart = false,
                    sessionExpiryIntervalSecs = 3600u,
                    sessionStorePath = store.path,
                )
                val messages = coroutineScope {
                    val all = async { received.takeWhile { it.topic != "offline/done" }.toList() }
                    MqttClient(options).use { pub ->
                        pub.connect()
                        // Sent after the stored ones on the same connection, so
                        // it arrives last: everything resent is in by then.
                        pub.publish("offline/done", "end", QoS.EXACTLY_ONCE)
                        pub.disconnect()
                    }
                    all.await()
                }
                val byTopic = messages.groupingBy { it.topic }.eachCount()
                for (i in 1..count) {
                    assertTrue((byTopic["offline/q1/$i"] ?: 0) >= 1, "QoS 1 message $i missing: $byTopic ($child)")
                    assertEquals(1, byTopic["offline/q2/$i"], "QoS 2 message $i not exactly once: $byTopic")
                }
                assertEquals("q2-3", messages.first { it.topic == "offline/q2/3" }.text)
                sub.disconnect()
            }
        }
        dir.deleteRecursively()
    }

    /** Run [OfflinePublisher] in a second JVM with this JVM's classpath and native library path. */
    private fun runChild(url: String, store: String, clientId: String): String {
        val (exit, output) = runChildJvm(OfflinePublisher::class.java, url, store, clientId, count.toString())
        assertEquals(0, exit, "child JVM failed: $output")
        assertTrue(output.contains("queued ${2 * count}"), output)
        return output.trim()
    }
}
