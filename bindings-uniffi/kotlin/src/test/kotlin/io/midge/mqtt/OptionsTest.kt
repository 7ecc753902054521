package io.midge.mqtt

import java.net.ServerSocket
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Test

/** Options Python and npm had and Kotlin lacked, each seen working on a real mosquitto. */
class OptionsTest : BrokerTest() {
    @Test
    fun `several servers - a dead first one is skipped`() = runTest {
        val dead = ServerSocket(0).use { it.localPort }
        val options = testOptions(broker).copy(
            url = "mqtt://127.0.0.1:$dead",
            servers = listOf(broker.url),
            reconnectOnInitialFailure = true,
        )
        MqttClient(options).use { c ->
            withTimeout(10_000) { c.connect() }
            assertEquals(ConnectionState.CONNECTED, c.state())
            c.disconnect()
        }
    }

    @Test
    fun `retain handling DO_NOT_SEND skips the retained message, the default gets it`() = runTest {
        val topic = "options/retained/${uniqueId("r")}"
        MqttClient(testOptions(broker)).use { c ->
            c.connect()
            c.publish(topic, "kept", QoS.AT_LEAST_ONCE, retain = true)
            val stream = c.messages(topic)
            c.subscribeMany(
                listOf(Subscription(filter = topic, qos = QoS.AT_LEAST_ONCE, retainHandling = RetainHandling.DO_NOT_SEND)),
            )
            // A marker after the SUBACK: had the retained message come, it would be first.
            c.publish(topic, "marker", QoS.AT_LEAST_ONCE)
            assertEquals("marker", stream.next()?.text)
            stream.stop()
            stream.destroy()

            MqttClient(testOptions(broker)).use { other ->
                other.connect()
                val got = other.messages(topic)
                other.subscribe(topic, QoS.AT_LEAST_ONCE)
                val first = withTimeout(5_000) { got.next() }
                assertEquals("kept", first?.text)
                assertEquals(true, first?.retain)
                got.stop()
                got.destroy()
                other.disconnect()
            }
            c.publish(topic, ByteArray(0), QoS.AT_LEAST_ONCE, retain = true) // clear it
            c.disconnect()
        }
    }

    @Test
    fun `window and buffer options are checked with the option's name`() = runTest {
        for ((options, name) in listOf(
            testOptions(broker).copy(receiveMaximum = 0u) to "receiveMaximum",
            testOptions(broker).copy(maxInflight = 70_000u) to "maxInflight",
            testOptions(broker).copy(messageBuffer = 0u) to "messageBuffer",
            testOptions(broker).copy(servers = listOf("http://x")) to "servers",
        )) {
            val e = assertFailsWith<MqttException.InvalidArgument> { MqttClient(options).close() }
            assertEquals(name, e.argument)
        }
        // In range, a small window and buffer still move 500 QoS 1 messages.
        MqttClient(testOptions(broker).copy(maxInflight = 2u, receiveMaximum = 2u, messageBuffer = 4u)).use { c ->
            c.connect()
            val stream = c.messages("options/window")
            c.subscribe("options/window", QoS.AT_LEAST_ONCE)
            val pending = (0 until 500).map {
                c.startPublish(Message(topic = "options/window", payload = "m$it".encodeToByteArray(), qos = QoS.AT_LEAST_ONCE))
            }
            val got = (0 until 500).map { withTimeout(10_000) { stream.next() }?.text }
            pending.forEach { it.result() }
            assertEquals((0 until 500).map { "m$it" }, got)
            stream.stop()
            stream.destroy()
            c.disconnect()
        }
    }
}
