package io.midge.mqtt

import kotlin.test.assertEquals
import kotlinx.coroutines.flow.first
import org.junit.jupiter.api.Test

/** The README's Kotlin quick start, against a test broker instead of port 1883. */
class QuickStartTest {
    @Test
    fun `the README quick start runs`() = runTest {
        Broker().use { broker ->
            broker.start()
            val printed = quickStart(broker.url)
            assertEquals("greenhouse/temp: 21.5", printed)
        }
    }

    // Same body as the README's `main`, returning what it prints.
    private suspend fun quickStart(url: String): String {
        val client = MqttClient(MqttOptions(url = url, clientId = "phone-1"))
        client.use {
            val messages = client.messageFlow("greenhouse/#") // register before subscribing
            client.connect()
            client.subscribe("greenhouse/#", QoS.AT_LEAST_ONCE)
            client.publish("greenhouse/temp", "21.5", QoS.AT_LEAST_ONCE) // returns once PUBACK arrived
            val message = messages.first()
            val line = "${message.topic}: ${message.text}"
            println(line)
            client.disconnect()
            return line
        }
    }
}
