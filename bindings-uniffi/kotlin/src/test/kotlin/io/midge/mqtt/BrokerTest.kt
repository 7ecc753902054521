package io.midge.mqtt

import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.TestInstance

/**
 * A test class whose tests share one mosquitto of its own, started before
 * the first test and stopped after the last ([extraConfig] goes into its
 * config).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class BrokerTest(private val extraConfig: String = "") {
    protected lateinit var broker: Broker

    @BeforeAll
    fun startBroker() {
        broker = Broker(extraConfig).start()
    }

    @AfterAll
    fun stopBroker() = broker.close()
}
