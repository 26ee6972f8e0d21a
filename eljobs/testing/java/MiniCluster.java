/*
 * eljobs' Hadoop mini cluster launcher: HDFS (one NameNode, one DataNode) and YARN (one
 * ResourceManager, one NodeManager) in this one JVM, on loopback ports chosen by the OS.
 *
 * Hadoop ships MiniDFSCluster and MiniYARNCluster as test classes without a main method; this
 * file is that main method. eljobs.testing.hadoop compiles it once against the jars of
 * .jvm/hadoop-minicluster (javac, about 6 s of CPU) and runs the class; without javac it falls
 * back to Java's single-file source launch, which compiles it again at every start.
 *
 * Arguments: WORK_DIR (data of both services; also the working directory, since
 * MiniYARNCluster keeps its node manager folders under ./target) and CONF_DIR (where the
 * client configuration is written). Optional: NM_MEMORY_MB and NM_VCORES.
 *
 * Once both services answer (an HDFS mkdirs and a YARN node report listing a RUNNING node
 * manager), it writes core-site.xml, hdfs-site.xml and yarn-site.xml into CONF_DIR, then the
 * file CONF_DIR/ready with one "key=value" line per address, and waits until it is killed. A
 * shutdown hook stops YARN, then HDFS, on SIGTERM. With -Deljobs.parent.pid=N it also exits
 * when process N is gone, so a test run that dies without cleaning up leaves no cluster behind.
 */

import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.TreeMap;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.yarn.api.records.NodeState;
import org.apache.hadoop.yarn.client.api.YarnClient;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.server.MiniYARNCluster;

public final class MiniCluster {
    private static final String HOST = "127.0.0.1";

    private MiniCluster() {}

    public static void main(String[] args) {
        try {
            run(args);
        } catch (Throwable e) {
            // The services start non-daemon threads: without an explicit exit a failed start
            // would leave a half-started cluster running.
            e.printStackTrace();
            System.exit(1);
        }
    }

    private static void run(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: MiniCluster WORK_DIR CONF_DIR [NM_MEMORY_MB [NM_VCORES]]");
            System.exit(2);
        }
        Path work = Paths.get(args[0]).toAbsolutePath();
        Path confDir = Paths.get(args[1]).toAbsolutePath();
        int nmMemoryMb = args.length > 2 ? Integer.parseInt(args[2]) : 8192;
        int nmVcores = args.length > 3 ? Integer.parseInt(args[3]) : 8;
        long t0 = System.nanoTime();

        Configuration conf = new YarnConfiguration();
        conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, work.resolve("dfs").toString());
        conf.set("hadoop.tmp.dir", work.resolve("tmp").toString());
        conf.setInt("dfs.replication", 1);
        // One user runs everything here (the NameNode, the tests, the YARN containers); HDFS
        // permissions would only add the staging-directory set-up a real cluster has done.
        conf.setBoolean("dfs.permissions.enabled", false);
        conf.set("dfs.namenode.http-address", HOST + ":0");
        // The NodeManager's containers are Spark JVMs; their virtual memory is no sign of misuse,
        // and a nearly full disk must not mark the only node unhealthy.
        conf.setBoolean("yarn.nodemanager.vmem-check-enabled", false);
        conf.setBoolean("yarn.nodemanager.pmem-check-enabled", false);
        conf.set("yarn.nodemanager.disk-health-checker.max-disk-utilization-per-disk-percentage",
                "100.0");
        conf.setInt("yarn.nodemanager.resource.memory-mb", nmMemoryMb);
        conf.setInt("yarn.nodemanager.resource.cpu-vcores", nmVcores);
        conf.setInt("yarn.scheduler.minimum-allocation-mb", 256);
        conf.setInt("yarn.scheduler.maximum-allocation-mb", nmMemoryMb);
        conf.setInt("yarn.scheduler.maximum-allocation-vcores", nmVcores);
        // The capacity scheduler (YARN's default, as in production) with its one queue; Hadoop's
        // tests get this from a capacity-scheduler.xml on their class path.
        conf.set("yarn.scheduler.capacity.root.queues", "default");
        conf.set("yarn.scheduler.capacity.root.default.capacity", "100");
        conf.set("yarn.scheduler.capacity.root.default.maximum-capacity", "100");
        // A client-mode and a cluster-mode application master fit side by side.
        conf.set("yarn.scheduler.capacity.maximum-am-resource-percent", "0.5");
        conf.setBoolean("yarn.log-aggregation-enable", false);

        MiniDFSCluster dfs = new MiniDFSCluster.Builder(conf)
                .numDataNodes(1)
                .storagesPerDatanode(1)
                .nameNodePort(0)
                .format(true)
                .build();
        dfs.waitActive();
        String defaultFs = "hdfs://" + HOST + ":" + dfs.getNameNodePort();
        conf.set("fs.defaultFS", defaultFs);

        MiniYARNCluster yarn = new MiniYARNCluster("eljobs", 1, 1, 1);
        yarn.init(conf);
        yarn.start();
        Configuration yconf = yarn.getConfig();
        yconf.set("fs.defaultFS", defaultFs);

        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                yarn.stop();
            } catch (Exception e) {
                System.err.println("stopping YARN: " + e);
            }
            try {
                dfs.shutdown();
            } catch (Exception e) {
                System.err.println("stopping HDFS: " + e);
            }
        }, "eljobs-mini-cluster-stop"));

        // Both answer: HDFS creates the folders Spark and YARN use, YARN lists a running node.
        try (FileSystem fs = FileSystem.newInstance(yconf)) {
            for (String dir : new String[] {"/tmp", "/user/" + System.getProperty("user.name")}) {
                org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(dir);
                fs.mkdirs(p);
                fs.setPermission(p, new FsPermission((short) 01777));
            }
        }
        YarnClient client = YarnClient.createYarnClient();
        client.init(yconf);
        client.start();
        try {
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (client.getNodeReports(NodeState.RUNNING).isEmpty()) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("no RUNNING NodeManager after 60 s");
                }
                Thread.sleep(100);
            }
        } finally {
            client.stop();
        }

        Map<String, String> core = new TreeMap<>();
        core.put("fs.defaultFS", defaultFs);
        core.put("hadoop.tmp.dir", yconf.get("hadoop.tmp.dir"));
        Map<String, String> hdfs = new TreeMap<>();
        hdfs.put("dfs.replication", "1");
        hdfs.put("dfs.permissions.enabled", "false");
        hdfs.put("dfs.namenode.rpc-address", HOST + ":" + dfs.getNameNodePort());
        hdfs.put("dfs.namenode.http-address", yconf.get("dfs.namenode.http-address"));
        Map<String, String> yarnSite = new TreeMap<>();
        for (Map.Entry<String, String> e : yconf) {
            String k = e.getKey();
            // The addresses the services bound (a wildcard one is a default nothing listens on).
            if (k.startsWith("yarn.resourcemanager.") && k.endsWith(".address")
                    && !yconf.get(k).startsWith("0.0.0.0")) {
                yarnSite.put(k, yconf.get(k));
            }
        }
        yarnSite.put("yarn.resourcemanager.hostname", HOST);
        for (String k : new String[] {
                "yarn.scheduler.minimum-allocation-mb", "yarn.scheduler.maximum-allocation-mb",
                "yarn.scheduler.maximum-allocation-vcores",
                "yarn.nodemanager.resource.memory-mb", "yarn.nodemanager.resource.cpu-vcores"}) {
            yarnSite.put(k, yconf.get(k));
        }
        Files.createDirectories(confDir);
        writeSite(confDir.resolve("core-site.xml"), core);
        writeSite(confDir.resolve("hdfs-site.xml"), hdfs);
        writeSite(confDir.resolve("yarn-site.xml"), yarnSite);

        StringBuilder ready = new StringBuilder();
        ready.append("fs.defaultFS=").append(defaultFs).append('\n');
        ready.append("dfs.namenode.http-address=")
                .append(yconf.get("dfs.namenode.http-address")).append('\n');
        ready.append("yarn.resourcemanager.address=")
                .append(yconf.get("yarn.resourcemanager.address")).append('\n');
        ready.append("yarn.resourcemanager.webapp.address=")
                .append(yconf.get("yarn.resourcemanager.webapp.address")).append('\n');
        ready.append("startup_seconds=")
                .append(String.format("%.1f", (System.nanoTime() - t0) / 1e9)).append('\n');
        Path tmp = confDir.resolve("ready.tmp");
        Files.writeString(tmp, ready.toString(), StandardCharsets.UTF_8);
        Files.move(tmp, confDir.resolve("ready"), StandardCopyOption.ATOMIC_MOVE);
        System.out.println("eljobs mini cluster ready: " + defaultFs);
        System.out.flush();

        String parent = System.getProperty("eljobs.parent.pid");
        if (parent == null || parent.isEmpty()) {
            Thread.currentThread().join();
        }
        ProcessHandle owner = ProcessHandle.of(Long.parseLong(parent)).orElse(null);
        while (owner != null && owner.isAlive()) {
            Thread.sleep(1000);
        }
        System.err.println("eljobs mini cluster: owner process " + parent + " is gone, stopping");
        System.exit(0);
    }

    /** A Hadoop *-site.xml with the given properties, written whole before it is renamed. */
    private static void writeSite(Path file, Map<String, String> props) throws Exception {
        Configuration site = new Configuration(false);
        for (Map.Entry<String, String> e : props.entrySet()) {
            site.set(e.getKey(), e.getValue(), "eljobs mini cluster");
        }
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (OutputStream out = Files.newOutputStream(tmp)) {
            site.writeXml(out);
        }
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }
}
