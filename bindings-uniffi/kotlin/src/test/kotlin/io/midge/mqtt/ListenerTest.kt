package io.midge.mqtt

import java.io.File
import java.util.concurrent.TimeUnit
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
        val java = File(System.getProperty("java.home"), "bin/java").path
        val process = ProcessBuilder(
            java,
            "-cp",
            System.getProperty("java.class.path"),
            "-Djna.library.path=${System.getProperty("jna.library.path")}",
            BlockingListenerChild::class.java.name,
            broker.url,
            "listener/${uniqueId("t")}",
            "30",
        ).redirectErrorStream(true).start()
        val output = process.inputStream.bufferedReader().readText()
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), "child JVM did not exit: $output")
        assertEquals(0, process.exitValue(), "child JVM failed: $output")
        assertTrue(output.contains("handled 30"), output)
        assertFalse(output.contains("JNA", ignoreCase = false), output)
    }
}
