/**
 * What caches may keep of an answer. Client answers carry secrets and registration access tokens and are never
 * cached, so no cache holds one and no request is answered 304 from one; answers that set their own rule (discovery
 * documents) set it after this.
 */
import type { RequestHandler } from 'express';

export const forbidCaching: RequestHandler = (req, res, next) => {
  res.setHeader('Cache-Control', 'no-store');
  // Express would answer `If-None-Match: *` with an empty 304 even without an ETag: nothing is cached to revalidate.
  delete req.headers['if-none-match'];
  delete req.headers['if-modified-since'];
  next();
};
