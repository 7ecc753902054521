package io.midge.mqtt

import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
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
