package io.midge.mqtt

import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow

/**
 * The shared fault proxy (`tests/src/proxy.rs`, run by [Testkit]) between
 * clients and a broker on `127.0.0.1:[upstreamPort]`. Faults apply to the
 * connections open at the time; later connections pass normally, so the
 * clients can recover. Bytes are never reordered or duplicated.
 *
 * - [cut]: close every open connection pair at once.
 * - [cutMidChunk]: forward only part of the next chunk read in either
 *   direction of each open pair, cut inside an MQTT packet, then close
 *   that pair.
 */
class FaultProxy(upstreamPort: Int) : AutoCloseable {
    private val acceptedCount = MutableStateFlow(0)
    private val connackCount = MutableStateFlow(0)

    @Volatile private var last: Map<String, String> = emptyMap()

    private val kit = Testkit("proxy", "$upstreamPort") { stats ->
        last = stats
        acceptedCount.value = stats.getValue("accepted").toInt()
        connackCount.value = stats.getValue("connacks").toInt()
    }

    val port: Int = kit.ready.getValue("port").toInt()
    val url: String get() = "mqtt://127.0.0.1:$port"

    /**
     * Connections accepted from clients (first connections and reconnects),
     * as a flow so that a test can wait for the clients to come back.
     */
    val accepted: StateFlow<Int> = acceptedCount.asStateFlow()

    /**
     * Successful CONNACKs forwarded to clients (sessions established): the
     * sign that a client is back after a fault, and that the broker has
     * written what it resends on resume right behind the CONNACK.
     */
    val connacks: StateFlow<Int> = connackCount.asStateFlow()

    /** Connection pairs closed by [cut]. */
    val cuts: Int get() = last["cuts"]?.toInt() ?: 0

    /** Connection pairs cut by [cutMidChunk] (part of a packet forwarded, then closed). */
    val midChunkCuts: Int get() = last["mid_packet_cuts"]?.toInt() ?: 0

    /** Connection pairs open at the last change of the counts. */
    val openConnections: Int get() = last["open"]?.toInt() ?: 0

    /** Close every open connection pair now; returns how many. */
    fun cut(): Int = kit.command("cut").first().toInt()

    /** Arm every open connection pair to cut inside its next chunk; returns how many. */
    fun cutMidChunk(): Int = kit.command("cut-mid-packet").first().toInt()

    /** Stop accepting and close every connection. */
    override fun close() = kit.close()
}
