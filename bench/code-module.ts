/** The module a script's path belongs to: `npm <package>`, a node built-in, or a directory of this project. */
export function moduleOfPath(path: string): string {
  const npm = path.split('node_modules/')[1];
  if (npm) {
    const parts = npm.split('/');
    return `npm ${parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]}`;
  }
  if (path.startsWith('node:')) return path.startsWith('node:internal/') ? `node:internal/${path.split('/')[1]}` : path;
  const own = /(?:dist\/)?((?:core|plugins|cli|localnet)\/[^/]+)/.exec(path);
  return own ? own[1]! : path;
}
