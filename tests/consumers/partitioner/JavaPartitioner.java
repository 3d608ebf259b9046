/*
 * Where Java's Kafka producer puts a key: for each line of stdin (a key, as
 * UTF-8) prints "key<TAB>murmur2<TAB>partition for N1<TAB>partition for N2..."
 * using kafka-clients itself: Utils.murmur2 and BuiltInPartitioner.partitionForKey,
 * the function the default partitioner applies to a keyed record.
 *
 * Run as a single-file program on the broker's jars (tests/lib/kafka-jars.sh):
 *   java -cp "$jars/*" JavaPartitioner.java 3 5 < keys.txt
 */
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;

import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.utils.Utils;

public class JavaPartitioner {
  public static void main(String[] args) throws Exception {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    StringBuilder out = new StringBuilder();
    String key;
    while ((key = in.readLine()) != null) {
      byte[] bytes = key.getBytes(StandardCharsets.UTF_8);
      out.append(key).append('\t').append(Utils.murmur2(bytes));
      for (String n : args) {
        int partitions = Integer.parseInt(n);
        int p = BuiltInPartitioner.partitionForKey(bytes, partitions);
        if (p != Utils.toPositive(Utils.murmur2(bytes)) % partitions) {
          throw new IllegalStateException("partitionForKey and murmur2 disagree for " + key);
        }
        out.append('\t').append(p);
      }
      out.append('\n');
    }
    System.out.print(out);
  }
}
