; Inno Setup script for Sparklio on Windows: installs the PyInstaller folder
; (dist\sparklio, built by build-windows.ps1 from packaging\sparklio.spec) under
; Program Files, with a Start-menu entry, an optional desktop shortcut and an uninstaller.
;
;   iscc /DAppVersion=0.1.0 packaging\windows\sparklio.iss   (build-windows.ps1 does this)
;
; User data is not here: the app keeps its settings, ledger, conversations and logs in
; %LOCALAPPDATA%\sparklio (platformdirs' user data folder, core/settings/paths.py), and API
; keys in Windows Credential Manager (keyring). An uninstall leaves both, so a reinstall or
; an upgrade finds them; the uninstaller says where they are.
; Written to build on Windows with Inno Setup 6; not built here (CI is Linux): see
; packaging/README.md for what was and was not verified.

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#define AppName "Sparklio"
#define AppExe "Sparklio.exe"
#define CliExe "sparklio-cli.exe"
#define AppId "io.sparklio.Sparklio"

[Setup]
; One AppId for every version: an upgrade replaces the previous install in place.
AppId={#AppId}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Sparklio
VersionInfoVersion={#AppVersion}
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; Program Files needs admin; a user without it may install for themselves only.
PrivilegesRequired=admin
PrivilegesRequiredOverridesAllowed=dialog
; x64compatible: Inno Setup 6.3 or newer
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=sparklio-{#AppVersion}-windows-x64-setup
SetupIconFile=sparklio.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
CloseApplications=yes
MinVersion=10.0

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
; The whole bundle folder: the two executables and _internal\ (Python, Qt, the data).
Source: "..\..\dist\sparklio\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs
Source: "sparklio.ico"; DestDir: "{app}"; Flags: ignoreversion

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppExe}"; IconFilename: "{app}\sparklio.ico"
Name: "{group}\Uninstall {#AppName}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; IconFilename: "{app}\sparklio.ico"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; Left by PyInstaller's bootloader or Python at run time inside the install folder.
Type: filesandordirs; Name: "{app}\_internal\__pycache__"

[Code]
procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
begin
  if (CurUninstallStep = usPostUninstall) and not UninstallSilent() then
    MsgBox('Sparklio is removed. Your settings, usage ledger and conversations stay in ' +
      ExpandConstant('{localappdata}') + '\sparklio, and your API keys in Windows Credential ' +
      'Manager; delete them yourself if you do not reinstall.', mbInformation, MB_OK);
end;
