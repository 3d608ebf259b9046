// Parses an AsyncAPI document with the AsyncAPI project's parser
// (@asyncapi/parser, which validates it against the specification's JSON
// Schema and its rules, resolving every $ref, the JSON Schemas of schemas/
// included) and prints, as one JSON object, the diagnostics and what the
// document says of each channel and operation.  Used by test_asyncapi.py.
// Usage: NODE_PATH=... node asyncapi_check.cjs schemas/asyncapi.yaml
'use strict';
const { Parser, fromFile } = require('@asyncapi/parser');

function kafka(bindings) {
  const b = bindings && bindings.get('kafka');
  return b ? b.value() : null;
}

(async () => {
  const parser = new Parser();
  const { document, diagnostics } = await fromFile(parser, process.argv[2]).parse();
  const out = {
    diagnostics: diagnostics.map((d) => ({ severity: d.severity, code: String(d.code), message: d.message, path: d.path })),
    channels: [],
    operations: [],
  };
  if (document) {
    for (const ch of document.channels().all()) {
      const b = kafka(ch.bindings());
      out.channels.push({
        id: ch.id(),
        address: ch.address(),
        parameters: ch.parameters().all().map((p) => ({ id: p.id(), default: p.json().default })),
        cleanup: b && b.topicConfiguration ? b.topicConfiguration['cleanup.policy'] : null,
        partitions: b && b.partitions !== undefined ? b.partitions : null,
        messages: ch.messages().all().map((m) => {
          const mb = kafka(m.bindings());
          const payload = m.payload();
          const headers = m.headers();
          return {
            id: m.id(),
            payload_title: payload ? payload.title() || null : null,
            payload_type: payload ? payload.type() || null : null,
            payload_id: payload ? payload.json().$id || null : null,
            key_pattern: mb && mb.key ? mb.key.pattern || null : null,
            headers_required: headers ? headers.required() || [] : null,
          };
        }),
      });
    }
    for (const op of document.operations().all()) {
      out.operations.push({
        id: op.id(),
        action: op.action(),
        channels: op.channels().all().map((c) => c.id()),
        messages: op.messages().all().map((m) => m.id()),
      });
    }
  }
  process.stdout.write(JSON.stringify(out, null, 1) + '\n');
})().catch((e) => { console.error('asyncapi_check: ' + (e && e.stack || e)); process.exit(1); });
