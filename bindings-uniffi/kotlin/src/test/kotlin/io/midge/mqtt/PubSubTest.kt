package io.midge.mqtt

import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Test
import org.junit.jupiter.params.ParameterizedTest
import org.junit.jupiter.params.provider.EnumSource

class PubSubTest : BrokerTest() {
    @ParameterizedTest
    @EnumSource(QoS::class)
    fun `publish and subscribe`(qos: QoS) = runTest {
        MqttClient(testOptions(broker)).use { sub ->
            MqttClient(testOptions(broker)).use { pub ->
                val topic = "pubsub/${qos.name.lowercase()}"
                val received = sub.messageFlow(topic)
                sub.connect()
                assertEquals(qos, sub.subscribe(topic, qos))
                val collected = async { received.take(3).toList() }
                pub.connect()
                for (i in 1..3) {
                    val result = pub.publish(topic, "hello $i", qos)
                    assertEquals(ReasonCode.SUCCESS, result.reasonCode)
                }
                val messages = withTimeout(10_000) { collected.await() }
                assertEquals(listOf("hello 1", "hello 2", "hello 3"), messages.map { it.text })
                messages.forEach {
                    assertEquals(topic, it.topic)
                    assertEquals(qos, it.qos)
                }
                pub.disconnect()
                sub.disconnect()
            }
        }
    }

    @Test
    fun `a burst of QoS 0 publishes arrives whole and in order`() = runTest {
        MqttClient(testOptions(broker)).use { sub ->
            MqttClient(testOptions(broker)).use { pub ->
                val topic = "pubsub/burst"
                val burst = 100
                sub.messages(topic).use { stream ->
                    suspend fun next(n: Int): List<String> = withTimeout(10_000) {
                        List(n) { (stream.next() ?: error("the stream ended")).text }
                    }
                    sub.connect()
                    sub.subscribe(topic, QoS.AT_LEAST_ONCE)
                    pub.connect()
                    // Once the client has settled after connecting, a burst
                    // is written in batches, and nothing published after it
                    // pushes its tail out: the client itself must write it.
                    pub.sync()
                    repeat(10) { round ->
                        for (i in 0 until burst) pub.publish(topic, "$round-$i")
                        assertEquals((0 until burst).map { "$round-$it" }, next(burst))
                    }
                    for (i in 0 until burst) {
                        pub.startPublish(Message(topic = topic, payload = "b$i".encodeToByteArray(), qos = QoS.AT_MOST_ONCE))
                    }
                    // A QoS 1 publish right after a burst goes out after it.
                    assertEquals(ReasonCode.SUCCESS, pub.publish(topic, "last", QoS.AT_LEAST_ONCE).reasonCode)
                    assertEquals((0 until burst).map { "b$it" } + "last", next(burst + 1))
                }
                pub.disconnect()
                sub.disconnect()
            }
        }
    }

    @Test
    fun `nextBatch reads in order, at most max at a time, and ends with the stream`() = runTest {
        MqttClient(testOptions(broker)).use { client ->
            client.messages("pubsub/batch").use { stream ->
                client.connect()
                client.subscribe("pubsub/batch", QoS.AT_LEAST_ONCE)
                for (i in 0 until 10) client.publish("pubsub/batch", "m$i", QoS.AT_LEAST_ONCE)
                val read = mutableListOf<String>()
                while (read.size < 10) {
                    val batch = assertNotNull(withTimeout(10_000) { stream.nextBatch(4u) })
                    assertTrue(batch.size in 1..4, "a batch of ${batch.size}")
                    read += batch.map { it.text }
                }
                assertEquals((0 until 10).map { "m$it" }, read)
                val zero = assertFailsWith<MqttException.InvalidArgument> { stream.nextBatch(0u) }
                assertEquals("max", zero.argument)
                stream.stop()
                assertNull(stream.nextBatch(4u))
            }
            client.disconnect()
        }
    }

    @Test
    fun `tryPublish hands QoS 0 over without a handle and QoS 1 with one`() = runTest {
        MqttClient(testOptions(broker)).use { sub ->
            MqttClient(testOptions(broker)).use { pub ->
                sub.messages("pubsub/try").use { stream ->
                    sub.connect()
                    sub.subscribe("pubsub/try", QoS.AT_LEAST_ONCE)
                    pub.connect()
                    // Usually done at once (null); a handle when the client was busy.
                    pub.tryPublish(Message(topic = "pubsub/try", payload = "zero".encodeToByteArray(), qos = QoS.AT_MOST_ONCE))
                        ?.use { assertEquals(ReasonCode.SUCCESS, it.result().reasonCode) }
                    val one = assertNotNull(
                        pub.tryPublish(Message(topic = "pubsub/try", payload = "one".encodeToByteArray(), qos = QoS.AT_LEAST_ONCE)),
                    )
                    assertEquals(ReasonCode.SUCCESS, one.use { it.result() }.reasonCode)
                    val bad = assertFailsWith<MqttException.InvalidArgument> {
                        pub.tryPublish(Message(topic = "pubsub/+", payload = ByteArray(0), qos = QoS.AT_MOST_ONCE))?.use { it.result() }
                    }
                    assertEquals("topic", bad.argument)
                    assertEquals(listOf("zero", "one"), withTimeout(10_000) { List(2) { stream.next()?.text } })
                }
                pub.disconnect()
                sub.disconnect()
            }
        }
    }

    @Test
    fun `message records carry MQTT 5 properties and binary payloads`() = runTest {
        MqttClient(testOptions(broker)).use { client ->
            val received = client.messageFlow("props/#")
            client.connect()
            client.subscribe("props/#", QoS.AT_LEAST_ONCE)
            val payload = ByteArray(256) { it.toByte() }
            client.publish(
                Message(
                    topic = "props/bin",
                    payload = payload,
                    qos = QoS.AT_LEAST_ONCE,
                    contentType = "application/octet-stream",
                    responseTopic = "props/reply",
                    correlationData = byteArrayOf(1, 2, 3),
                    userProperties = listOf(UserProperty("k", "v")),
                ),
            )
            val m = withTimeout(10_000) { received.take(1).toList().single() }
            assertContentEquals(payload, m.payload)
            assertEquals("application/octet-stream", m.contentType)
            assertEquals("props/reply", m.responseTopic)
            assertContentEquals(byteArrayOf(1, 2, 3), m.correlationData)
            assertEquals(listOf(UserProperty("k", "v")), m.userProperties)
            client.disconnect()
        }
    }

    @Test
    fun `retained messages reach a later subscriber`() = runTest {
        MqttClient(testOptions(broker)).use { client ->
            client.connect()
            client.publish("retained/state", "on", QoS.AT_LEAST_ONCE, retain = true)
            val received = client.messageFlow("retained/#")
            client.subscribe("retained/#", QoS.AT_LEAST_ONCE)
            val m = withTimeout(10_000) { received.take(1).toList().single() }
            assertEquals("on", m.text)
            assertEquals(true, m.retain)
            client.disconnect()
        }
    }
}
