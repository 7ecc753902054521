package io.midge.mqtt

/**
 * A mosquitto of the test's own, on a free loopback port with a generated
 * config, run by the shared launcher ([Testkit]). Made stopped: [start]
 * returns once the port accepts connections; [stop] ends it (SIGTERM) and
 * waits. It can be started again on the same port (broker restarts).
 */
class Broker(extraConfig: String = "") : AutoCloseable {
    private val kit = Testkit(
        "mosquitto",
        "--stopped",
        """
        listener {port:tcp} 127.0.0.1
        allow_anonymous true
        persistence false
        log_dest stdout
        $extraConfig
        """.trimIndent(),
    )
    val port: Int = kit.ready.getValue("tcp").toInt()
    val url: String get() = "mqtt://127.0.0.1:$port"

    /** mosquitto's process id while started, 0 while stopped. */
    var pid: Long = 0
        private set

    fun start(): Broker {
        pid = Testkit.fields(kit.command("start").joinToString(" ")).getValue("pid").toLong()
        return this
    }

    fun stop() {
        kit.command("stop")
        pid = 0
    }

    override fun close() = kit.close()
}
