# Build Sparklio for Windows: dist\sparklio\ (Sparklio.exe, sparklio-cli.exe, _internal\)
# with PyInstaller, then the installer dist\sparklio-<version>-windows-x64-setup.exe with
# Inno Setup 6 (iscc.exe, https://jrsoftware.org/isinfo.php) when it is installed.
#
#   powershell -ExecutionPolicy Bypass -File packaging\windows\build-windows.ps1
#
# The build venv (build\venv-bundle) holds the wheel's dependencies without the `local`
# extra, PyInstaller, and this checkout installed non-editable (its data\ folder is what
# the bundle carries). PyInstaller cannot cross-build: run this on Windows 10/11 x64 with
# Python 3.11+ from python.org (`py -3.11`). Written to build there; not run by CI here
# (Linux): packaging\README.md says what was and was not verified.
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..\..")
$Venv = if ($env:SPARKLIO_BUNDLE_VENV) { $env:SPARKLIO_BUNDLE_VENV } else { "build\venv-bundle" }
$Python = Join-Path $Venv "Scripts\python.exe"
$PyInstallerVersion = "6.22.3"

function Invoke-Checked([string]$Exe, [string[]]$Arguments) {
  & $Exe @Arguments
  if ($LASTEXITCODE -ne 0) { throw "$Exe $($Arguments -join ' ') failed ($LASTEXITCODE)" }
}

if (-not (Test-Path $Python)) {
  Invoke-Checked "py" @("-3.11", "-m", "venv", $Venv)
  Invoke-Checked $Python @("-m", "pip", "install", "--quiet", "--upgrade", "pip")
}
Invoke-Checked $Python @("-m", "pip", "install", "--quiet", "pyinstaller==$PyInstallerVersion", ".")
Invoke-Checked $Python @("-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", ".")
foreach ($Left in @("build\lib", "build\bdist.win-amd64")) { if (Test-Path $Left) { Remove-Item -Recurse -Force $Left } }
& $Python -c "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('torch') else 1)"
if ($LASTEXITCODE -eq 0) { throw "$Venv has torch; the base bundle must not (use a venv without the local extra)" }

Invoke-Checked (Join-Path $Venv "Scripts\pyinstaller.exe") @(
  "--noconfirm", "--log-level", "WARN", "--distpath", "dist", "--workpath", "build\pyinstaller",
  "packaging\sparklio.spec"
)

# A smoke test of what was built: the console executable prints its version and routes.
$Version = (& "dist\sparklio\sparklio-cli.exe" --version).Split(" ")[1]
if ($LASTEXITCODE -ne 0 -or -not $Version) { throw "dist\sparklio\sparklio-cli.exe --version failed" }
$CheckHome = Join-Path $env:TEMP "sparklio-bundle-check"  # ($HOME is read-only)
$env:SPARKLIO_HOME = $CheckHome
& "dist\sparklio\sparklio-cli.exe" route --task copywriting_standard --prompt "write a caption" --all-available --json | Out-Null
if ($LASTEXITCODE -ne 0) { throw "dist\sparklio\sparklio-cli.exe route failed ($LASTEXITCODE)" }
Remove-Item Env:\SPARKLIO_HOME
Remove-Item -Recurse -Force $CheckHome -ErrorAction SilentlyContinue
$SizeMB = [math]::Round(((Get-ChildItem -Recurse -File "dist\sparklio" | Measure-Object -Sum Length).Sum / 1MB), 1)
Write-Host "bundle dist\sparklio ($SizeMB MB), version $Version"

$Iscc = (Get-Command "iscc.exe" -ErrorAction SilentlyContinue).Source
if (-not $Iscc) {
  $Default = Join-Path ${env:ProgramFiles(x86)} "Inno Setup 6\ISCC.exe"
  if (Test-Path $Default) { $Iscc = $Default }
}
if ($Iscc) {
  Invoke-Checked $Iscc @("/Q", "/DAppVersion=$Version", "packaging\windows\sparklio.iss")
  Write-Host "installer dist\sparklio-$Version-windows-x64-setup.exe"
} else {
  Write-Host "Inno Setup 6 not found: the folder is built; install it (winget install JRSoftware.InnoSetup) for the installer"
}
