/**
 * The approvals page (`GET /console`): static files a person's browser loads to see the missions
 * waiting for an approval or a vote and to sign one with their own key. The key is read and used
 * in the browser only (tweetnacl, served from here, not from a CDN); the page calls the same REST
 * routes as any client, with a bearer token the person pastes. The files carry no secret, so they
 * are public; a strict policy lets the page run only its own scripts and talk only to this origin.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Response } from 'express';
import type { ApiRegistry } from '../routes';

/** Only this origin's files and requests; no inline script or style, no framing, no forms elsewhere. */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

interface ConsoleFile {
  path: string;
  operationId: string;
  summary: string;
  contentType: string;
  /** Where the bytes are read from, once, on first request. */
  source: () => URL | string;
}

const here = (name: string) => () => new URL(name, import.meta.url);

const FILES: ConsoleFile[] = [
  {
    path: '/console',
    operationId: 'console',
    summary: 'The approvals page: missions waiting for an approval or a vote, signed in the browser',
    contentType: 'text/html',
    source: here('index.html'),
  },
  {
    path: '/console/console.js',
    operationId: 'consoleScript',
    summary: "The approvals page's script",
    contentType: 'text/javascript',
    source: here('console.js'),
  },
  {
    path: '/console/console.css',
    operationId: 'consoleStyle',
    summary: "The approvals page's style sheet",
    contentType: 'text/css',
    source: here('console.css'),
  },
  {
    path: '/console/nacl-fast.min.js',
    operationId: 'consoleNacl',
    summary: 'tweetnacl, which signs in the browser',
    contentType: 'text/javascript',
    source: () => createRequire(import.meta.url).resolve('tweetnacl/nacl-fast.min.js'),
  },
];

function secure(res: Response): void {
  res.setHeader('Content-Security-Policy', CONSOLE_CSP);
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
}

export function mountConsole(api: ApiRegistry): void {
  for (const file of FILES) {
    let bytes: Buffer | undefined;
    api.route({
      method: 'get',
      path: file.path,
      operationId: file.operationId,
      tag: 'Approvals page',
      summary: file.summary,
      description:
        'Public: the page holds no secret. It asks for a bearer token and a key file, both kept in the browser ' +
        '(README.md, "Approvals page").',
      access: 'public',
      responses: { 200: { description: file.contentType, contentType: file.contentType } },
      handler: (_input, res) => {
        bytes ??= readFileSync(file.source());
        secure(res);
        res.type(file.contentType).send(bytes);
      },
    });
  }
}
