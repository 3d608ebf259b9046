/*
 * CallsCheck: reads a calls topic of mtcti3-bridge the way a Flink job reads a
 * Debezium changelog, and reports what it got.
 *
 * Every message value goes through Flink's own debezium-json deserializer
 * (DebeziumJsonDeserializationSchema from flink-json, the class behind
 * 'format' = 'debezium-json'), with the row type below.  The changelog rows
 * are applied to a table keyed by the Kafka key, as a table with that key as
 * its primary key holds them (Flink's upsert/changelog sinks, ksqlDB, a JDBC
 * sink): +I puts the key's row, -U must equal the row the key holds, +U
 * replaces it, -D must equal it and removes it.  A stream whose key names one
 * leg passes every check; keys shared by several legs show up as -U/-D rows
 * that do not match what the key holds.
 *
 * The topic is read once, from the beginning to its end (read_committed),
 * with a plain Kafka consumer: the deserializer is the part under test.
 *
 * Usage: java -cp 'target/classes:deps/*' mtcti3.consumers.CallsCheck BOOTSTRAP TOPIC OUT.json
 * Writes OUT.json:
 *   messages, tombstones, errors [{partition, offset, error}],
 *   rows {"+I": n, "-U": n, "+U": n, "-D": n}, rows_per_message {"p/o": n},
 *   insert_over_existing, before_mismatch, delete_mismatch, delete_missing,
 *   keys (distinct keys seen), legs_per_key {key: distinct line_guid values},
 *   table {key: row} (the rows left at the end), key_of_row_mismatch (rows whose
 *   leg column differs from the Kafka key).
 * Exit status 0 when it could read the topic (whatever it found), 1 otherwise.
 */
package mtcti3.consumers;

import java.io.File;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.TreeSet;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.formats.common.TimestampFormat;
import org.apache.flink.formats.json.debezium.DebeziumJsonDeserializationSchema;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.metrics.groups.UnregisteredMetricsGroup;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.data.ArrayData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.runtime.typeutils.InternalTypeInfo;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.types.RowKind;
import org.apache.flink.util.Collector;
import org.apache.flink.util.SimpleUserCodeClassLoader;
import org.apache.flink.util.UserCodeClassLoader;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public final class CallsCheck {
  /* The columns a consumer of call legs declares: the leg's identity, then
   * a few of CallInfo's fields (every other field of the row is ignored by
   * the format, as Flink ignores undeclared JSON fields). */
  static final DataType ROW = DataTypes.ROW(
      DataTypes.FIELD("leg", DataTypes.STRING()),
      DataTypes.FIELD("line_kind", DataTypes.STRING()),
      DataTypes.FIELD("line_guid", DataTypes.STRING()),
      DataTypes.FIELD("line_extn", DataTypes.STRING()),
      DataTypes.FIELD("callid", DataTypes.BIGINT()),
      DataTypes.FIELD("referencecallid", DataTypes.BIGINT()),
      DataTypes.FIELD("gcid", DataTypes.STRING()),
      DataTypes.FIELD("state", DataTypes.STRING()),
      DataTypes.FIELD("direction", DataTypes.STRING()),
      DataTypes.FIELD("featuresavailable", DataTypes.BIGINT()),
      DataTypes.FIELD("featuresavailable_names", DataTypes.ARRAY(DataTypes.STRING())),
      DataTypes.FIELD("callingparty", DataTypes.ROW(
          DataTypes.FIELD("number", DataTypes.STRING()),
          DataTypes.FIELD("name", DataTypes.STRING()))),
      DataTypes.FIELD("tag", DataTypes.STRING()),
      DataTypes.FIELD("mute", DataTypes.BOOLEAN()),
      DataTypes.FIELD("recording", DataTypes.BOOLEAN()),
      DataTypes.FIELD("parkslot", DataTypes.STRING())).notNull();

  private CallsCheck() {}

  /** A row as plain Java values (String, Long, Boolean, List, Map), by column name. */
  static Map<String, Object> toMap(RowData row, RowType type) {
    Map<String, Object> out = new LinkedHashMap<>();
    List<RowType.RowField> fields = type.getFields();
    for (int i = 0; i < fields.size(); i++) {
      out.put(fields.get(i).getName(), value(row, i, fields.get(i).getType()));
    }
    return out;
  }

  static Object value(RowData row, int i, LogicalType t) {
    if (row.isNullAt(i)) {
      return null;
    }
    switch (t.getTypeRoot()) {
      case VARCHAR:
      case CHAR:
        return row.getString(i).toString();
      case BIGINT:
        return row.getLong(i);
      case BOOLEAN:
        return row.getBoolean(i);
      case ARRAY: {
        ArrayData a = row.getArray(i);
        List<Object> l = new ArrayList<>();
        for (int j = 0; j < a.size(); j++) {
          l.add(a.isNullAt(j) ? null : a.getString(j).toString());
        }
        return l;
      }
      case ROW: {
        RowType rt = (RowType) t;
        return toMap(row.getRow(i, rt.getFieldCount()), rt);
      }
      default:
        throw new IllegalStateException("no conversion for " + t);
    }
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  static DebeziumJsonDeserializationSchema format(RowType rowType) throws Exception {
    // The same arguments as 'format' = 'debezium-json' with its defaults:
    // no metadata columns, no schema in the message, parse errors fail.
    DebeziumJsonDeserializationSchema schema = new DebeziumJsonDeserializationSchema(
        ROW, new ArrayList(), InternalTypeInfo.of(rowType), false, false, TimestampFormat.SQL);
    schema.open(new DeserializationSchema.InitializationContext() {
      @Override
      public MetricGroup getMetricGroup() {
        return new UnregisteredMetricsGroup();
      }

      @Override
      public UserCodeClassLoader getUserCodeClassLoader() {
        return SimpleUserCodeClassLoader.create(CallsCheck.class.getClassLoader());
      }
    });
    return schema;
  }

  public static void main(String[] argv) throws Exception {
    if (argv.length != 3) {
      System.err.println("usage: CallsCheck BOOTSTRAP TOPIC OUT.json");
      System.exit(2);
    }
    String bootstrap = argv[0];
    String topic = argv[1];
    File outFile = new File(argv[2]);
    RowType rowType = (RowType) ROW.getLogicalType();
    DebeziumJsonDeserializationSchema schema = format(rowType);

    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("isolation.level", "read_committed");
    p.put("enable.auto.commit", "false");
    p.put("key.deserializer", ByteArrayDeserializer.class.getName());
    p.put("value.deserializer", ByteArrayDeserializer.class.getName());

    long messages = 0;
    long tombstones = 0;
    List<Map<String, Object>> errors = new ArrayList<>();
    Map<String, Long> rows = new LinkedHashMap<>();
    for (String k : new String[] {"+I", "-U", "+U", "-D"}) {
      rows.put(k, 0L);
    }
    Map<String, Integer> rowsPerMessage = new TreeMap<>();
    long insertOverExisting = 0;
    long beforeMismatch = 0;
    long deleteMismatch = 0;
    long deleteMissing = 0;
    long keyOfRowMismatch = 0;
    Map<String, Map<String, Object>> table = new TreeMap<>();
    Map<String, TreeSet<String>> legsPerKey = new TreeMap<>();

    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
      List<TopicPartition> tps = new ArrayList<>();
      for (PartitionInfo pi : consumer.partitionsFor(topic, Duration.ofSeconds(30))) {
        tps.add(new TopicPartition(topic, pi.partition()));
      }
      consumer.assign(tps);
      consumer.seekToBeginning(tps);
      Map<TopicPartition, Long> end = consumer.endOffsets(tps, Duration.ofSeconds(30));
      long deadline = System.currentTimeMillis() + 120_000;
      // Partition by partition, in offset order: a key's events are in one
      // partition, so its order is kept.
      for (TopicPartition tp : tps) {
        consumer.assign(List.of(tp));
        consumer.seek(tp, consumer.beginningOffsets(List.of(tp)).get(tp));
        while (consumer.position(tp) < end.get(tp)) {
          if (System.currentTimeMillis() > deadline) {
            throw new IllegalStateException("the topic was not read to its end within 120 s");
          }
          for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
            if (r.offset() >= end.get(tp)) {
              continue;
            }
            messages++;
            if (r.value() == null) {
              tombstones++;
              continue;
            }
            String key = r.key() == null ? null : new String(r.key(), "UTF-8");
            List<RowData> got = new ArrayList<>();
            try {
              schema.deserialize(r.value(), new Collector<RowData>() {
                @Override
                public void collect(RowData row) {
                  got.add(row);
                }

                @Override
                public void close() {}
              });
            } catch (Exception e) {
              Map<String, Object> err = new LinkedHashMap<>();
              err.put("partition", r.partition());
              err.put("offset", r.offset());
              err.put("error", String.valueOf(e.getMessage()));
              errors.add(err);
              continue;
            }
            rowsPerMessage.put(r.partition() + "/" + r.offset(), got.size());
            for (RowData row : got) {
              RowKind kind = row.getRowKind();
              rows.merge(kind.shortString(), 1L, Long::sum);
              Map<String, Object> m = toMap(row, rowType);
              if (m.get("leg") == null || !m.get("leg").equals(key)) {
                keyOfRowMismatch++;
              }
              legsPerKey.computeIfAbsent(key, x -> new TreeSet<>())
                  .add(String.valueOf(m.get("line_guid")));
              Map<String, Object> held = table.get(key);
              switch (kind) {
                case INSERT:
                  if (held != null) {
                    insertOverExisting++;
                  }
                  table.put(key, m);
                  break;
                case UPDATE_BEFORE:
                  if (!m.equals(held)) {
                    beforeMismatch++;
                  }
                  break;
                case UPDATE_AFTER:
                  table.put(key, m);
                  break;
                case DELETE:
                  if (held == null) {
                    deleteMissing++;
                  } else if (!m.equals(held)) {
                    deleteMismatch++;
                  }
                  table.remove(key);
                  break;
                default:
                  throw new IllegalStateException("row kind " + kind);
              }
            }
          }
        }
      }
    }

    Map<String, Object> out = new LinkedHashMap<>();
    out.put("topic", topic);
    out.put("messages", messages);
    out.put("tombstones", tombstones);
    out.put("errors", errors);
    out.put("rows", rows);
    out.put("rows_per_message", rowsPerMessage);
    out.put("insert_over_existing", insertOverExisting);
    out.put("before_mismatch", beforeMismatch);
    out.put("delete_mismatch", deleteMismatch);
    out.put("delete_missing", deleteMissing);
    out.put("key_of_row_mismatch", keyOfRowMismatch);
    out.put("keys", legsPerKey.size());
    Map<String, Object> legs = new TreeMap<>();
    legsPerKey.forEach((k, v) -> legs.put(k, new ArrayList<>(v)));
    out.put("legs_per_key", legs);
    out.put("table", table);
    new ObjectMapper().writerWithDefaultPrettyPrinter().writeValue(outFile, out);
    System.out.println("CallsCheck: " + messages + " messages, " + errors.size() + " errors, rows " + rows);
  }
}
