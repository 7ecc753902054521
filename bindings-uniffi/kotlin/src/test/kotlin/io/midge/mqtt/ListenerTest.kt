package io.midge.mqtt

import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import org.junit.jupiter.api.Test

/**
 * A listener that blocks, in a JVM of its own so that what JNA prints from
 * native code is seen: the issue report had "JNA: could not detach thread"
 * once per message. Not reproduced since the driver stopped awaiting
 * consumers; this keeps it that way.
 */
class ListenerTest : BrokerTest() {
    @Test
    fun `a blocking listener handles every message and JNA prints nothing`() {
        val (exit, output) = runChildJvm(BlockingListenerChild::class.java, broker.url, "listener/${uniqueId("t")}", "30")
        assertEquals(0, exit, "child JVM failed: $output")
        assertTrue(output.contains("handled 30"), output)
        assertFalse(output.contains("JNA", ignoreCase = false), output)
    }
}
