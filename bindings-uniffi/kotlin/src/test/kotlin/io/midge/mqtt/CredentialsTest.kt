package io.midge.mqtt

import java.nio.file.Files
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicReference
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import org.junit.jupiter.api.Test

/** A credentials provider called before every connection attempt. */
class CredentialsTest {
    private fun passwd(file: java.nio.file.Path, password: String, create: Boolean) {
        val args = mutableListOf("mosquitto_passwd", "-b")
        if (create) args.add("-c")
        args.addAll(listOf(file.toString(), "meter", password))
        val process = ProcessBuilder(args).redirectErrorStream(true).start()
        assertEquals(0, process.waitFor(), process.inputStream.bufferedReader().readText())
    }

    @Test
    fun `the password changes between reconnects and the provider gives the new one`() = runTest {
        val dir = Files.createTempDirectory("midge-kt-passwd")
        val file = dir.resolve("passwd")
        passwd(file, "first-secret", create = true)
        Broker("allow_anonymous false\npassword_file $file").use { broker ->
            broker.start()
            val password = AtomicReference("first-secret")
            val calls = AtomicInteger()
            MqttClient(testOptions(broker)).use { client ->
                client.setCredentialsProvider(
                    object : CredentialsProvider {
                        override fun credentials(serverUrl: String): FreshCredentials {
                            assertEquals(broker.url, serverUrl)
                            calls.incrementAndGet()
                            return FreshCredentials(username = "meter", password = password.get())
                        }
                    },
                )
                client.watchingState { state ->
                    client.connect()
                    assertEquals(1, calls.get())
                    broker.stop()
                    passwd(file, "rotated-secret", create = false)
                    password.set("rotated-secret")
                    state.awaitState(ConnectionState.WAITING_TO_RECONNECT)
                    broker.start()
                    state.awaitState(ConnectionState.CONNECTED, 15_000)
                }
                assertTrue(calls.get() >= 2, "${calls.get()} calls")
                client.publish("cred/kt", "after rotation", QoS.AT_LEAST_ONCE)
                client.disconnect()
            }
            // The old password alone is refused now.
            val stale = testOptions(broker).copy(username = "meter", password = "first-secret", reconnect = false)
            MqttClient(stale).use { client ->
                assertFailsWith<MqttException.ConnectionRefused> { client.connect() }
            }
        }
    }
}
