package io.midge.mqtt

import java.net.ServerSocket
import kotlin.test.assertContains
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import org.junit.jupiter.api.Test

class ErrorsTest {
    @Test
    fun `a refused connection is ConnectionRefused with the reason code`() = runTest {
        Broker("allow_anonymous false").use { broker ->
            broker.start()
            MqttClient(testOptions(broker)).use { client ->
                val e = assertFailsWith<MqttException.ConnectionRefused> { client.connect() }
                assertEquals(ReasonCode.NOT_AUTHORIZED, e.reasonCode)
                assertEquals(0x87, e.reasonCode.value)
                assertEquals(ConnectionState.DISCONNECTED, client.state())
            }
        }
    }

    @Test
    fun `refused with MQTT 3_1_1 maps the return code to a reason code`() = runTest {
        Broker("allow_anonymous false").use { broker ->
            broker.start()
            val options = testOptions(broker).copy(protocol = ProtocolVersion.V311)
            MqttClient(options).use { client ->
                val e = assertFailsWith<MqttException.ConnectionRefused> { client.connect() }
                assertEquals(ReasonCode.NOT_AUTHORIZED, e.reasonCode)
            }
        }
    }

    @Test
    fun `a publish the broker refuses is PublishRejected with the reason code`() = runTest {
        val acl = java.io.File.createTempFile("midge-acl", ".txt")
        acl.writeText("topic readwrite open/#\n")
        try {
            Broker("acl_file ${acl.path}").use { broker ->
                broker.start()
                MqttClient(testOptions(broker)).use { client ->
                    client.connect()
                    assertEquals(QoS.AT_LEAST_ONCE, client.subscribe("open/#", QoS.AT_LEAST_ONCE))
                    val pub = assertFailsWith<MqttException.PublishRejected> {
                        client.publish("secret/x", "no", QoS.AT_LEAST_ONCE)
                    }
                    assertEquals(ReasonCode.NOT_AUTHORIZED, (pub as MqttException).reasonCode)
                    client.disconnect()
                }
            }
        } finally {
            acl.delete()
        }
    }

    @Test
    fun `nothing listening is a Transport error`() = runTest {
        val port = ServerSocket(0).use { it.localPort }
        MqttClient(MqttOptions(url = "mqtt://127.0.0.1:$port", reconnect = false)).use { client ->
            assertFailsWith<MqttException.Transport> { client.connect() }
        }
    }

    @Test
    fun `bad options name the option and the rule`() {
        val url = assertFailsWith<MqttException.InvalidArgument> { MqttClient(MqttOptions(url = "http://example.com")) }
        assertEquals("url", url.argument)
        val keepAlive = assertFailsWith<MqttException.InvalidArgument> {
            MqttClient(MqttOptions(url = "mqtt://localhost", keepAliveSecs = 70_000u))
        }
        assertEquals("keepAliveSecs", keepAlive.argument)
        assertContains(keepAlive.rule, "65535")
        // An empty id cannot resume a 3.1.1 session; a 5.0 server assigns one.
        val resume = assertFailsWith<MqttException.InvalidArgument> {
            MqttClient(MqttOptions(url = "mqtt://localhost", clientId = "", cleanStart = false, protocol = ProtocolVersion.V311))
        }
        assertEquals("clientId", resume.argument)
        MqttClient(MqttOptions(url = "mqtt://localhost", clientId = "", cleanStart = false)).close()
        // CONNECT fields over 65,535 bytes are refused when the client is made.
        val authData = assertFailsWith<MqttException.InvalidArgument> {
            MqttClient(
                MqttOptions(url = "mqtt://localhost", authenticationMethod = "M", authenticationData = ByteArray(70_000)),
            )
        }
        assertEquals("authenticationData", authData.argument)
        assertContains(authData.rule, "65,535")
    }

    @Test
    fun `bad topics and filters are InvalidArgument without a broker`() = runTest {
        MqttClient(MqttOptions(url = "mqtt://127.0.0.1:1")).use { client ->
            val topic = assertFailsWith<MqttException.InvalidArgument> { client.publish("chat/+/x", "hi") }
            assertEquals("topic", topic.argument)
            val empty = assertFailsWith<MqttException.InvalidArgument> { client.publish("", "hi") }
            assertEquals("topic", empty.argument)
            val filter = assertFailsWith<MqttException.InvalidArgument> { client.subscribe("chat/#/x", QoS.AT_MOST_ONCE) }
            assertEquals("filters", filter.argument)
            val stream = assertFailsWith<MqttException.InvalidArgument> { client.messageFlow("a/#/b") }
            assertEquals("filter", stream.argument)
            assertTrue(stream.message!!.contains("filter"))
        }
    }
}
