/**
 * `/docs`: the API reference, Swagger UI (the `swagger-ui-dist` package) served by the bridge itself — no CDN — under
 * the Content-Security-Policy every answer carries (scripts and styles from 'self' only, no inline script). The page
 * loads `/openapi.yaml`, renders every operation with its examples and schemas, and its try-it calls this bridge
 * with the security each operation names (an API key for the portal dialects, the registration access token for RFC
 * 7592). The assets are sent from the package's folder when asked for, never read at start.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Router } from 'express';
import { labelRoute } from './request-context.js';

const swaggerUiDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

/** The package's files the page needs, by the name the page asks for them. */
const assets: Record<string, string> = {
  'swagger-ui.css': 'swagger-ui.css',
  'swagger-ui-bundle.js': 'swagger-ui-bundle.js',
  'favicon.png': 'favicon-32x32.png',
};

/** The page's own script: an external file, since the CSP allows no inline script. */
const initScript = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: new URL('../openapi.yaml', window.location.href.replace(/\\/?$/, '/')).href,
    dom_id: '#reference',
    deepLinking: true,
    docExpansion: 'list',
    defaultModelsExpandDepth: 1,
    displayOperationId: false,
    displayRequestDuration: true,
    filter: true,
    showExtensions: false,
    tryItOutEnabled: false,
    validatorUrl: null,
    persistAuthorization: false,
    withCredentials: false,
  });
});
`;

export function renderReferencePage(title: string): string {
  const escaped = title.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escaped} API reference</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="docs/swagger-ui.css">
<link rel="icon" type="image/png" href="docs/favicon.png">
</head><body>
<div id="reference"></div>
<noscript><p>The reference needs JavaScript; the description itself is at <a href="openapi.yaml">openapi.yaml</a>.</p></noscript>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/init.js"></script>
</body></html>
`;
}

/** `GET /docs` and its assets under `/docs/…`; the page links them relative to `/docs`, so a path prefix in front holds. */
export function referenceRouter(title: string): Router {
  const router = Router();
  const page = renderReferencePage(title);
  router.get('/docs', labelRoute, (_req, res) => {
    res.type('html').send(page);
  });
  router.get('/docs/init.js', labelRoute, (_req, res) => {
    res.type('text/javascript').set('Cache-Control', 'public, max-age=300').send(initScript);
  });
  router.get('/docs/:asset', labelRoute, (req, res, next) => {
    const file = assets[req.params.asset as string];
    if (file === undefined) return next();
    res.set('Cache-Control', 'public, max-age=86400');
    res.sendFile(join(swaggerUiDir, file), { dotfiles: 'deny' }, (error) => error && next(error));
  });
  return router;
}
