package io.midge.mqtt

import java.net.ServerSocket
import kotlin.concurrent.thread
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import org.junit.jupiter.api.Test

/**
 * The proxy and ALPN options reach the native transport (its tunnelling is
 * tested end to end through a proxy in the Python suite, on the same code).
 */
class ProxyTest : BrokerTest() {
    @Test
    fun `a connection goes through the HTTP proxy, which sees CONNECT for the broker`() = runTest {
        ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress()).use { proxy ->
            var requestLine = ""
            val seen = thread {
                proxy.accept().use { socket ->
                    requestLine = socket.getInputStream().bufferedReader().readLine() ?: ""
                    socket.getOutputStream().write("HTTP/1.1 403 Forbidden\r\n\r\n".toByteArray())
                }
            }
            val options = testOptions(broker).copy(proxy = "http://127.0.0.1:${proxy.localPort}", reconnect = false)
            MqttClient(options).use { client ->
                val error = assertFailsWith<MqttException> { client.connect() }
                assertTrue("403" in error.toString(), error.toString())
            }
            seen.join(10_000)
            assertEquals("CONNECT 127.0.0.1:${broker.port} HTTP/1.1", requestLine)
        }
    }

    @Test
    fun `bad proxy and ALPN values are refused, naming the option`() {
        val proxy = assertFailsWith<MqttException.InvalidArgument> {
            MqttClient(testOptions(broker).copy(proxy = "socks5://127.0.0.1:1080"))
        }
        assertEquals("proxy", proxy.argument)
        val alpn = assertFailsWith<MqttException.InvalidArgument> {
            MqttClient(MqttOptions(url = "mqtts://127.0.0.1:1", tls = TlsConfig(alpnProtocols = listOf(""))))
        }
        assertEquals("alpnProtocols", alpn.argument)
    }
}
