package io.midge.mqtt

import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import org.junit.jupiter.api.Test

/**
 * The client's own lines through [MqttClient.setLogger] (written by the core,
 * the same words as Python's `midge` logger and the npm `logger`), and the
 * cause that comes with every state change.
 */
class LoggingTest {
    /** Collects lines; [until] waits for one that starts with a prefix. */
    private class Lines : MqttLogger {
        val all = LinkedBlockingQueue<Pair<LogLevel, String>>()
        private val seen = mutableListOf<Pair<LogLevel, String>>()

        override fun log(level: LogLevel, line: String) {
            all.add(level to line)
        }

        fun until(prefix: String): Pair<LogLevel, String> {
            seen.firstOrNull { it.second.startsWith(prefix) }?.let { return it }
            while (true) {
                val next = all.poll(10, TimeUnit.SECONDS) ?: error("no line starting with \"$prefix\" in $seen")
                seen.add(next)
                if (next.second.startsWith(prefix)) return next
            }
        }

        fun seen(): List<Pair<LogLevel, String>> = seen.toList()
    }

    @Test
    fun `the connection story at INFO and a cause on each state change`() = runTest {
        Broker().use { broker ->
            broker.start()
            MqttClient(testOptions(broker, "log-kt")).use { client ->
                val lines = Lines()
                client.setLogger(lines, LogLevel.INFO, false)
                val states = LinkedBlockingQueue<Pair<ConnectionState, String?>>()
                client.setListener(
                    object : MqttListener {
                        override fun onMessage(message: Message) {}

                        override fun onConnectionStateChanged(state: ConnectionState, cause: String?) {
                            states.add(state to cause)
                        }
                    },
                )
                assertEquals(ConnectionState.DISCONNECTED to null, states.poll(5, TimeUnit.SECONDS))
                client.connect()
                assertEquals(LogLevel.INFO to "connecting to ${broker.url}", lines.until("connecting to"))
                assertEquals(
                    LogLevel.INFO to "connected to ${broker.url} (client id \"log-kt\", new session, keep alive 60 s)",
                    lines.until("connected to"),
                )
                broker.stop()
                val (level, lost) = lines.until("disconnected: ")
                assertEquals(LogLevel.WARNING, level)
                assertTrue(Regex("disconnected: .+; reconnecting in \\d+ ms \\(attempt 1\\)").matches(lost), lost)
                // The listener saw the wait, with the same cause.
                var waiting: Pair<ConnectionState, String?>
                do {
                    waiting = assertNotNull(states.poll(10, TimeUnit.SECONDS))
                } while (waiting.first != ConnectionState.WAITING_TO_RECONNECT)
                assertNotNull(waiting.second)
                assertTrue(lost.startsWith("disconnected: ${waiting.second}"), "$lost / ${waiting.second}")
                assertEquals(waiting.second, client.disconnectCause())
                broker.start()
                lines.until("connected to")
                var connected: Pair<ConnectionState, String?>
                do {
                    connected = assertNotNull(states.poll(10, TimeUnit.SECONDS))
                } while (connected.first != ConnectionState.CONNECTED)
                assertNull(connected.second)
                client.disconnect()
                assertEquals(LogLevel.INFO to "disconnected by the application", lines.until("disconnected by"))
                assertFalse(lines.seen().any { it.first == LogLevel.DEBUG })
            }
        }
    }

    @Test
    fun `one DEBUG line per packet, no password or payload unless asked`() = runTest {
        Broker().use { broker ->
            broker.start()
            val options = testOptions(broker).copy(username = "meter", password = "hunter2-password")
            MqttClient(options).use { client ->
                val lines = Lines()
                client.setLogger(lines, LogLevel.DEBUG, false)
                client.connect()
                client.publish("log/kt", "payload-not-for-logs", QoS.AT_LEAST_ONCE)
                val connect = lines.until("sent CONNECT").second
                assertTrue("username=\"meter\" password=<hidden>" in connect, connect)
                val publish = lines.until("sent PUBLISH").second
                assertTrue(Regex("sent PUBLISH id=\\d+ qos=1 topic=\"log/kt\" payload=20B size=\\d+B").matches(publish), publish)
                lines.until("received PUBACK")
                // Payload bytes only when asked.
                val more = Lines()
                client.setLogger(more, LogLevel.DEBUG, true)
                client.publish("log/kt", "21.5", QoS.AT_MOST_ONCE)
                val shown = more.until("sent PUBLISH").second
                assertTrue("payload=4B \"21.5\"" in shown, shown)
                client.disconnect()
                more.until("disconnected by")
                for ((_, line) in lines.seen() + more.seen()) {
                    assertFalse("hunter2" in line || "payload-not-for-logs" in line, line)
                }
            }
        }
    }
}
