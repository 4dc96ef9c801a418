/**
 * A self-contained reference page rendered from spec/openapi.yaml at start-up: no script, no CDN, nothing fetched.
 */
import type { OpenApiDocument } from './spec.js';

const methods = ['get', 'put', 'post', 'delete', 'patch'] as const;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** Inline code spans (`...`) are the only markup the descriptions use. */
function prose(text: string | undefined): string {
  if (!text) return '';
  return `<p>${escapeHtml(text).replace(/`([^`]+)`/g, '<code>$1</code>')}</p>`;
}

interface Operation {
  summary?: string;
  description?: string;
  operationId?: string;
  tags?: string[];
  security?: unknown[];
  requestBody?: { content?: Record<string, { schema?: { $ref?: string } }> };
  responses?: Record<
    string,
    { $ref?: string; description?: string; content?: Record<string, { schema?: { $ref?: string } }> }
  >;
}

function refName(ref: string | undefined): string | undefined {
  return ref?.split('/').pop();
}

function responseDescription(document: OpenApiDocument, response: NonNullable<Operation['responses']>[string]): string {
  const shared = response.$ref
    ? (document.components as Record<string, Record<string, { description?: string }>>).responses?.[
        refName(response.$ref)!
      ]
    : undefined;
  const description = shared?.description ?? response.description ?? '';
  const schema = refName(Object.values(response.content ?? {})[0]?.schema?.$ref);
  return `${prose(description)}${schema ? ` <a href="#schema-${escapeHtml(schema)}">${escapeHtml(schema)}</a>` : ''}`;
}

function renderOperation(document: OpenApiDocument, path: string, method: string, operation: Operation): string {
  const requestSchema = refName(Object.values(operation.requestBody?.content ?? {})[0]?.schema?.$ref);
  const needsKey = !(Array.isArray(operation.security) && operation.security.length === 0);
  const rows = Object.entries(operation.responses ?? {})
    .map(
      ([status, response]) =>
        `<tr><td>${escapeHtml(status)}</td><td>${responseDescription(document, response)}</td></tr>`,
    )
    .join('');
  return `<section class="operation" id="${escapeHtml(operation.operationId ?? `${method}-${path}`)}">
<h3><span class="method">${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code> — ${escapeHtml(operation.summary ?? '')}</h3>
${prose(operation.description)}
<p>${needsKey ? 'Requires an API key (<code>X-API-Key</code> or <code>Authorization: Bearer</code>).' : 'No API key.'}</p>
${requestSchema ? `<p>Request body: <a href="#schema-${escapeHtml(requestSchema)}">${escapeHtml(requestSchema)}</a></p>` : ''}
<table><thead><tr><th>status</th><th>meaning</th></tr></thead><tbody>${rows}</tbody></table>
</section>`;
}

export function renderReferencePage(document: OpenApiDocument): string {
  const tags = (document.tags as { name: string; description?: string }[] | undefined) ?? [];
  const sections = tags.map((tag) => {
    const operations = Object.entries(document.paths).flatMap(([path, item]) =>
      methods.flatMap((method) => {
        const operation = item[method] as Operation | undefined;
        return operation && (operation.tags ?? []).includes(tag.name)
          ? [renderOperation(document, path, method, operation)]
          : [];
      }),
    );
    return `<h2 id="tag-${escapeHtml(tag.name)}">${escapeHtml(tag.name)}</h2>${prose(tag.description)}${operations.join('\n')}`;
  });
  const schemas = Object.entries(document.components.schemas)
    .map(
      ([name, schema]) =>
        `<h3 id="schema-${escapeHtml(name)}">${escapeHtml(name)}</h3><pre>${escapeHtml(JSON.stringify(schema, null, 2))}</pre>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(document.info.title)} API reference</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.45;color:#1d1d1f}
code,pre{font-family:ui-monospace,monospace;background:#f3f3f5;border-radius:3px}
pre{padding:.75rem;overflow:auto}
.operation{border-top:1px solid #ddd;padding-top:.5rem}
.method{display:inline-block;min-width:4.5rem;font-weight:700}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
td p{margin:0;display:inline}
</style></head><body>
<h1>${escapeHtml(document.info.title)} ${escapeHtml(document.info.version)}</h1>
${prose(document.info.description)}
<p>The machine-readable description is at <a href="openapi.yaml">openapi.yaml</a>.</p>
${sections.join('\n')}
<h2 id="schemas">Schemas</h2>
${schemas}
</body></html>
`;
}
