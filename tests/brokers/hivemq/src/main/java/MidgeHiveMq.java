import java.nio.file.Path;

import com.hivemq.embedded.EmbeddedHiveMQ;

/**
 * HiveMQ CE, embedded, for the midge system tests:
 * `MidgeHiveMq <conf dir (config.xml)> <data dir> <extensions dir>`.
 * Prints `midge-hivemq ready` once started; stops the broker on SIGTERM
 * (or when stdin closes, so that no broker outlives a test run that died).
 */
public final class MidgeHiveMq {
    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: MidgeHiveMq <conf dir> <data dir> <extensions dir>");
            System.exit(2);
        }
        EmbeddedHiveMQ hivemq = EmbeddedHiveMQ.builder()
                .withConfigurationFolder(Path.of(args[0]))
                .withDataFolder(Path.of(args[1]))
                .withExtensionsFolder(Path.of(args[2]))
                .build();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> hivemq.stop().join()));
        hivemq.start().join();
        System.out.println("midge-hivemq ready");
        System.out.flush();
        // Stdin is the test's pipe: EOF means the test is gone.
        while (System.in.read() >= 0) {
        }
        System.exit(0);
    }
}
