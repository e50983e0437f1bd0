// Package hub is the hub's broker: topics of partitioned logs (hub/store),
// consumer-group offsets, Kafka producer IDs and the ingest state of every
// agent. The Kafka-protocol listener (hub/kafka), the HTTP API
// (hub/httpapi) and agent ingest over QUIC (hub/ingest) are front ends of
// one *Broker.
//
// # Contract
//
//   - Topics have a fixed number of partitions, chosen at creation (the
//     configured default, a per-topic setting, or CreateTopics). Topics are
//     created on first use by ingest always, by Metadata and Produce unless
//     DisableAutoCreate, and at Open for every configured topic. Topic
//     records live in the KV; partition data in DIR/topics/NAME/N.
//   - One append path: Kafka Produce and agent Merge both append through
//     store.Partition; acknowledgements wait for the fsync policy.
//   - Exactly once from agents (Merge): a record is identified by (agent ID,
//     WAL epoch, seq). Each partition keeps, per agent epoch, the highest
//     seq written to it (a producer mark, rebuilt from the log itself on
//     open, since merged batches carry agent.id, agent.epoch and agent.seq
//     headers and the reserved IngestProducerID). A device always maps to
//     one partition and an agent's records are written in seq order, so a
//     record at or below its partition's mark is already there. Once every
//     partition a merge touched is durable, and every earlier merge of the
//     agent has completed, the agent's watermark is persisted in the KV;
//     only then does Merge return it. After a crash the watermark may lag
//     the partitions; the agent resends from AgentResume and the marks drop
//     exactly the records that survived.
//   - Idempotent Kafka producers (InitProducerID) get the same treatment
//     with Kafka's sequence rules, so a producer retrying after a hub crash
//     does not duplicate what was already stored.
//   - Committed offsets are stored durably in the KV before OffsetCommit is
//     answered; they survive restarts and are deleted with their topic.
//   - Retention runs every RetentionCheck and deletes whole segments (see
//     store.Partition.Retain); the log start offset moves with it. Age is
//     judged by a segment's newest record timestamp — for merged records the
//     agent's receive time, like Kafka's CreateTime — so a backlog that
//     arrives older than the retention age goes once its segment is sealed
//     (unless newer records share the segment).
package hub
