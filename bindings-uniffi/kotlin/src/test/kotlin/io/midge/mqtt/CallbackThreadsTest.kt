package io.midge.mqtt

import kotlin.test.assertEquals
import kotlin.test.assertTrue
import org.junit.jupiter.api.Test

class CallbackThreadsTest : BrokerTest() {
    /**
     * midge's threads stay attached to the JVM between callbacks (JNA would
     * otherwise detach them after each), as daemons: a JVM whose `main`
     * returns with a client still connected exits, and the listener
     * threads of closed clients do not stay behind.
     */
    @Test
    fun `callback threads stay attached, never hold the JVM, and leave with their clients`() {
        val clients = 20
        val (exit, output) = runChildJvm(AttachedThreadsChild::class.java, broker.url, "attached/${uniqueId("t")}", "$clients")
        assertEquals(0, exit, output)
        val attached = Regex("attached (\\d+)").find(output)?.groupValues?.get(1)?.toInt()
            ?: error("no count in: $output")
        // The runtime's threads and the last client's listener thread;
        // each closed client's listener thread is gone with it.
        assertTrue(attached in 1 until clients, "attached $attached after $clients closed clients: $output")
    }
}
