// Tables in the Kusto emulator, set up with the official query client (azure-kusto-data) the way
// an operator would: create the table, its JSON ingestion mapping, and enable the streaming
// ingestion policy on it.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const examples = path.join(__dirname, '..', '..', '..', 'mappings', 'examples');

// The example telemetry table: its schema ("name:type,...") and its JSON mapping, compact.
const telemetrySchema = () => fs.readFileSync(path.join(examples, 'telemetry.schema'), 'utf8').trim();
const telemetryMapping = () =>
  JSON.stringify(JSON.parse(fs.readFileSync(path.join(examples, 'telemetry_mapping.json'), 'utf8')));

// Creates `table` with `schema`; with `mapping` (JSON text), a JSON mapping named `mappingName`;
// then enables streaming ingestion on it.
async function createTable(client, database, table, schema, { mapping, mappingName = 'm' } = {}) {
  await client.execute(database, `.create table ${table} (${schema})`);
  if (mapping) {
    await client.execute(database, `.create table ${table} ingestion json mapping '${mappingName}' '${mapping}'`);
  }
  await client.execute(database, `.alter table ${table} policy streamingingestion enable`);
}

module.exports = { telemetrySchema, telemetryMapping, createTable };
