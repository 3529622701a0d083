"""What calls in inline interpreter code do, as data: one entry per family of calls.

Each entry: an id, the languages it applies to, the call names (the last component of
`os.system`, `fs.rmSync`, `File::Path::rmtree`, `->post`), the module words that may qualify
the call (`os.`, `require('fs').`; an unqualified call counts when one of them appears in the
code, or always with `*`), and the action.
Actions become the shell commands the rules already judge:

* `shell`: the first argument is shell text, or a list of words (`subprocess.run([...])`);
* `argv`: every argument is one word (`system("rm", "-rf", $d)`, `spawn("rm", ["-rf", d])`);
* `rm_tree` -> `rm -rf P`; `rm_maybe_tree` -> `rm -rf P` when a `recursive` option is set, else `rm P`;
* `rm` -> `rm P`; `read` -> `cat P` (or `curl P` for a URL); `write` -> `tee P`; `open` -> read or write by mode;
* `send` -> `curl -d @- URL`; `fetch` -> `curl URL`, or a send when the call carries data;
* `connect` -> `nc HOST PORT`;
* `eval`: code of the same language, read again when literal, unreadable otherwise;
* `decode`: turns data into something else (base64, hex, compression): run, it hides code;
* `indirect`: looks a function up by a computed name.
"""

from __future__ import annotations

__all__ = ["CALLS", "CallEntry"]

CallEntry = tuple[str, frozenset[str], frozenset[str], frozenset[str], str]

# (id, languages, call names, module words, action)
_TABLE: tuple[tuple[str, str, str, str, str], ...] = (
    # Running shell commands.
    ("py_os_shell", "python", "system popen", "os", "shell"),
    ("py_subprocess", "python", "run call check_call "
     "check_output Popen getoutput getstatusoutput", "subprocess sp", "shell"),
    ("py_pty", "python", "spawn", "pty", "shell"),
    ("py_exec_argv", "python", "execv execvp execvpe execl execlp spawnv spawnvp spawnl spawnlp", "os", "argv"),
    ("js_child_process", "javascript", "exec execSync", "child_process cp", "shell"),
    ("js_spawn", "javascript", "spawn spawnSync execFile execFileSync", "child_process cp", "argv"),
    ("js_bun_shell", "javascript", "$", "* Bun", "shell"),
    ("perl_system", "perl", "system exec", "*", "argv"),
    ("ruby_system", "ruby", "system exec spawn", "* Kernel Process", "argv"),
    ("ruby_popen", "ruby", "popen capture2 capture2e capture3 popen3", "IO Open3", "shell"),
    ("php_system", "php", "system exec shell_exec passthru popen proc_open", "*", "shell"),
    ("lua_os_shell", "lua", "execute popen", "os io", "shell"),
    # Deleting files and trees.
    ("py_rmtree", "python", "rmtree removedirs", "shutil os", "rm_tree"),
    ("py_remove", "python", "remove unlink rmdir", "os Path pathlib", "rm"),
    ("js_rm", "javascript", "rm rmSync rmdir rmdirSync", "fs fsp promises", "rm_maybe_tree"),
    ("js_remove_tree", "javascript", "rimraf rimrafSync removeSync remove emptyDirSync", "* fse rimraf", "rm_tree"),
    ("js_unlink", "javascript", "unlink unlinkSync", "fs fsp promises", "rm"),
    ("perl_rmtree", "perl", "rmtree remove_tree", "* File::Path Path", "rm_tree"),
    ("perl_unlink", "perl", "unlink", "*", "rm"),
    ("ruby_rm_rf", "ruby", "rm_rf rm_r remove_dir remove_entry remove_entry_secure", "FileUtils", "rm_tree"),
    ("ruby_rm", "ruby", "delete unlink rm rm_f", "File FileUtils", "rm"),
    ("php_unlink", "php", "unlink", "*", "rm"),
    ("lua_remove", "lua", "remove", "os", "rm"),
    ("lua_rmdir", "lua", "rmdir", "lfs", "rm"),
    # Reading and writing files.
    ("py_open", "python", "open", "* io codecs builtins", "open"),
    ("py_read", "python", "read_text read_bytes", "Path pathlib", "read"),
    ("py_write", "python", "write_text write_bytes", "Path pathlib", "write"),
    ("js_read", "javascript", "readFileSync readFile createReadStream", "fs fsp promises", "read"),
    ("js_write", "javascript", "writeFileSync writeFile "
     "appendFileSync appendFile createWriteStream", "fs fsp promises", "write"),
    ("perl_open", "perl", "open", "*", "open"),
    ("ruby_read", "ruby", "read readlines foreach binread", "File IO", "read"),
    ("ruby_write", "ruby", "write binwrite", "File IO", "write"),
    ("php_read", "php", "file_get_contents file readfile fopen", "*", "read"),
    ("php_write", "php", "file_put_contents", "*", "write"),
    ("lua_open", "lua", "open", "io", "open"),
    ("lua_read", "lua", "lines", "io", "read"),
    # Reaching the network.
    ("py_http_send", "python", "post put patch", "requests httpx", "send"),
    ("py_http_fetch", "python", "get head request stream", "requests httpx", "fetch"),
    ("py_urlopen", "python", "urlopen Request urlretrieve", "urllib request", "fetch"),
    ("py_socket", "python", "connect connect_ex create_connection", "socket", "connect"),
    ("js_fetch", "javascript", "fetch", "* window globalThis", "fetch"),
    ("js_http_request", "javascript", "request", "http https", "send"),
    ("js_http_get", "javascript", "get", "http https", "fetch"),
    ("js_axios_send", "javascript", "post put patch sendBeacon", "axios got navigator", "send"),
    ("js_socket", "javascript", "connect createConnection", "net tls", "connect"),
    ("perl_http_send", "perl", "post put request", "LWP HTTP", "send"),
    ("perl_http_fetch", "perl", "get getstore mirror", "LWP HTTP", "fetch"),
    ("perl_socket", "perl", "new", "IO::Socket::INET IO::Socket::IP", "connect"),
    ("ruby_http_send", "ruby", "post post_form put patch", "Net::HTTP HTTParty Faraday", "send"),
    ("ruby_http_fetch", "ruby", "get get_response", "Net::HTTP HTTParty Faraday", "fetch"),
    ("ruby_socket", "ruby", "new open tcp", "TCPSocket Socket", "connect"),
    ("php_curl", "php", "curl_init", "*", "fetch"),
    ("php_socket", "php", "fsockopen stream_socket_client", "*", "connect"),
    # Running computed code, and hiding it.
    ("py_eval", "python", "exec eval compile", "* builtins", "eval"),
    ("js_eval", "javascript", "eval Function "
     "runInNewContext runInThisContext runInContext", "* vm window globalThis", "eval"),
    ("perl_eval", "perl", "eval", "*", "eval"),
    ("ruby_eval", "ruby", "eval instance_eval class_eval module_eval", "* Kernel", "eval"),
    ("php_eval", "php", "eval assert create_function", "*", "eval"),
    ("lua_eval", "lua", "load loadstring", "*", "eval"),
    ("py_decode", "python",
     "b64decode b32decode b16decode a85decode b85decode urlsafe_b64decode fromhex unhexlify decompress loads",
     "* base64 binascii zlib marshal pickle bytes bz2 lzma gzip", "decode"),
    ("py_codecs", "python", "decode", "codecs", "decode"),
    ("py_indirect", "python", "getattr __import__ import_module", "* importlib builtins", "indirect"),
    ("js_decode", "javascript", "atob fromCharCode unescape inflateSync gunzipSync", "* String zlib", "decode"),
    ("js_buffer", "javascript", "from", "Buffer", "decode"),
    ("perl_decode", "perl", "decode_base64 pack uncompress", "* MIME::Base64 Compress::Zlib", "decode"),
    ("ruby_decode", "ruby", "decode64 strict_decode64 urlsafe_decode64 "
     "pack unpack unpack1 inflate", "* Base64 Zlib", "decode"),
    ("php_decode", "php", "base64_decode gzinflate gzuncompress "
     "gzdecode str_rot13 hex2bin convert_uudecode", "*", "decode"),
)  # fmt: skip
CALLS: tuple[CallEntry, ...] = tuple(
    (entry_id, frozenset(languages.split()), frozenset(names.split()), frozenset(modules.split()), action)
    for entry_id, languages, names, modules, action in _TABLE
)
