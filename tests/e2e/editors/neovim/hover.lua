-- Headless Neovim (0.7+) as a real LSP client: start autometrics-lsp, attach it to the current buffer,
-- request a hover at HOVER_LINE/HOVER_CHARACTER (0-based, LSP), write the answer as JSON to HOVER_OUT, quit.
-- Everything comes from the environment so the same script serves any file and any server command.
local function env(name)
  local value = os.getenv(name)
  if value == nil then
    error("missing environment variable " .. name)
  end
  return value
end

local out_path = env("HOVER_OUT")
local function finish(result)
  local file = assert(io.open(out_path, "w"))
  file:write(vim.json.encode(result))
  file:close()
  vim.cmd("qa!")
end

local settings = vim.json.decode(env("AUTOMETRICS_SETTINGS"))
local client_id = vim.lsp.start_client({
  name = "autometrics",
  cmd = vim.json.decode(env("AUTOMETRICS_LSP_CMD")),
  root_dir = env("AUTOMETRICS_ROOT"),
  init_options = settings,
  settings = { autometrics = settings },
})
if client_id == nil then
  finish({ error = "the server did not start" })
  return
end

local bufnr = vim.api.nvim_get_current_buf()
vim.lsp.buf_attach_client(bufnr, client_id)
local client = vim.lsp.get_client_by_id(client_id)
if not vim.wait(20000, function() return client.initialized end, 50) then
  finish({ error = "the server did not initialize" })
  return
end

local params = {
  textDocument = { uri = vim.uri_from_bufnr(bufnr) },
  position = { line = tonumber(env("HOVER_LINE")), character = tonumber(env("HOVER_CHARACTER")) },
}
local responses, err = vim.lsp.buf_request_sync(bufnr, "textDocument/hover", params, 20000)
if responses == nil then
  finish({ error = "no hover answer: " .. tostring(err) })
  return
end
local response = responses[client_id] or {}
finish({ result = response.result or vim.NIL, error = response.err and response.err.message or vim.NIL })
